"""A suppressed address (permanent bounce, complaint) gets no confirmation email: 409 ``address_suppressed``
saying how to lift it. Only support admins lift it (``DELETE /suppressions/{email}``), audited; the address
then needs a new confirmation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from tests.app.flows import emails_to
from tests.app.test_confirmation_limits import _confirmations, _subscribe
from tests.app.test_subscriptions import _account_items, _customer
from tests.conftest import STATE, auth, unique


def _suppressed(table: Any, reason: str = "complaint") -> str:
    address = f"{unique('Sup.')}@customer.example"
    table.suppress_address(address, reason=reason, detail="abuse", feedback_id=unique("f"))
    return address


def test_a_suppressed_address_gets_409_saying_how_to_lift_it_and_no_email(
    app_client: Client, provisioned: str, table: Any
) -> None:
    # GIVEN an address suppressed for a complaint
    account, (product,) = _customer(app_client)
    address = _suppressed(table)
    # WHEN it is subscribed (in other letter case)
    resp = _subscribe(app_client, account, address.lower(), product)
    # THEN 409 address_suppressed, telling the customer to ask support; no email, nothing written
    body = json.loads(resp.body)
    assert resp.status_code == 409 and body["error"] == "address_suppressed", resp.body
    assert "complaint" in body["message"] and "support" in body["message"]
    assert _confirmations(provisioned, address) == 0 and _account_items(table, account) == ["CONTRACT"]


def test_support_lifts_a_suppression_audited_and_a_new_subscription_is_confirmed_again(
    app_client: Client, provisioned: str, table: Any
) -> None:
    # GIVEN a suppressed address
    account, (product,) = _customer(app_client)
    address = _suppressed(table, "bounce")
    # WHEN a support admin lifts it
    resp = app_client.http.delete(f"/suppressions/{address}", headers=auth("support-admin", email="ann@vendor.example"))
    # THEN the answer is the audit record: who lifted what, and when; and it reads back
    lifted = json.loads(resp.body)
    assert resp.status_code == 200, resp.body
    assert (
        lifted["email"] == address.lower()
        and lifted["reason"] == "bounce"
        and lifted["lifted_by"] == "ann@vendor.example"
    )
    assert lifted["lifted_at"] and lifted["suppressed_at"]
    assert table.suppression_lifts(address) == [lifted] and table.suppression(address) is None
    # AND the address may subscribe again: a confirmation email is sent
    assert _subscribe(app_client, account, address, product).status_code == 202
    assert _confirmations(provisioned, address) == 1 and "Confirm" in str(emails_to(provisioned, address)[0]["Subject"])


def test_only_support_admins_lift_and_an_address_not_suppressed_is_404(app_client: Client, table: Any) -> None:
    address = _suppressed(table)
    for role in ("customer", "release-engineer"):
        resp = app_client.http.delete(f"/suppressions/{address}", headers=auth(role, unique("a")))
        assert resp.status_code == 403, resp.body
    assert table.suppression(address) is not None and table.suppression_lifts(address) == []
    resp = app_client.http.delete(f"/suppressions/{unique('never')}@customer.example", headers=auth("support-admin"))
    assert resp.status_code == 404 and json.loads(resp.body)["error"] == "not_suppressed"
    resp = app_client.http.delete("/suppressions/not-an-address", headers=auth("support-admin"))
    assert resp.status_code == 400 and "'email'" in json.loads(resp.body)["message"]


def test_patchctl_suppressions_lift_prints_the_audit_and_names_a_refusal(
    app_client: Client, table: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from patchcast_tools.cli import main
    from patchcast_tools.cli import suppressions as cli_suppressions
    from tests.app.cli_api import cli_api

    monkeypatch.setenv("PATCHCAST_STATE_DIR", str(STATE))
    monkeypatch.setattr(cli_suppressions, "Api", lambda _base, role: cli_api(app_client, role))
    address = _suppressed(table)

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            main(["suppressions", "lift", *argv, "--api", "http://patchcast.test"])
        except SystemExit as exc:
            out = capsys.readouterr()
            return int(exc.code or 0), out.out, out.err
        raise AssertionError("patchctl did not exit")

    code, out, _ = run(address)
    assert code == 0 and f"lifted the complaint suppression of {address.lower()}" in out, out
    code, _, err = run(address)
    assert code == 1 and err.startswith("patchctl: not_suppressed (404)") and "Traceback" not in err, err
