"""Configuration: the sender every message goes From is an address by the same rules as the API's."""

from __future__ import annotations

import pytest

from chalicelib.adapters import settings

_ENV = {
    "PATCHCAST_PUBLIC_URL": "https://patchcast.test",
    "PATCHCAST_JWT_ISSUER": "https://issuer.test",
    "PATCHCAST_JWT_AUDIENCE": "patchcast",
    "PATCHCAST_JWKS_URL": "https://issuer.test/jwks.json",
}


def test_the_sender_is_normalised_as_mail_does() -> None:
    s = settings.from_env({**_ENV, "PATCHCAST_SENDER": "Alerts@Vendor.Example"})
    assert settings.checked_sender(s) == "Alerts@vendor.example"


@pytest.mark.parametrize(
    "sender",
    [
        "alerts",
        "=?utf-8?q?ceo=40bank.example?=@vendor.example",
        "alerts\u2028@vendor.example",
        "Alerts <a@vendor.example>",
    ],
)
def test_a_sender_that_is_no_plain_address_is_a_configuration_error_naming_it(sender: str) -> None:
    s = settings.from_env({**_ENV, "PATCHCAST_SENDER": sender})
    with pytest.raises(settings.ConfigurationError, match="PATCHCAST_SENDER"):
        settings.checked_sender(s)


def test_only_the_local_stage_may_send_from_a_test_domain() -> None:
    local = settings.from_env({**_ENV, "PATCHCAST_SENDER": "alerts@patchcast.test", "PATCHCAST_STAGE": "local"})
    assert settings.checked_sender(local) == "alerts@patchcast.test"
    prod = settings.from_env({**_ENV, "PATCHCAST_SENDER": "alerts@patchcast.test", "PATCHCAST_STAGE": "prod"})
    with pytest.raises(settings.ConfigurationError, match="special-use"):
        settings.checked_sender(prod)
