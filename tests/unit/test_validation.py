from __future__ import annotations

import pytest

from chalicelib import validation as v
from chalicelib.errors import BadRequest


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b"\xff"])
def test_bodies_that_are_not_json_objects_are_refused(raw: bytes) -> None:
    with pytest.raises(BadRequest) as err:
        v.parse_json_object(raw)
    assert err.value.code == "invalid_json"


def test_unknown_fields_are_named() -> None:
    with pytest.raises(BadRequest) as err:
        v.reject_unknown({"a": 1, "zz": 2}, ["a"])
    assert err.value.code == "unknown_field" and "zz" in err.value.message


@pytest.mark.parametrize(
    "address",
    [
        "a@b",
        "no-at.example.com",
        "x\r\n@example.com",
        "ops@acme.example\nBcc: x@y.z",
        "a" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_bad_email_addresses_are_refused(address: str) -> None:
    with pytest.raises(BadRequest):
        v.email(address)


def test_a_good_address_keeps_its_local_part_and_lowers_its_domain() -> None:
    assert v.email("Ops.Team+m3@ACME.Example") == "Ops.Team+m3@acme.example"


@pytest.mark.parametrize("value", [0, 5, "1", True, 1.5])
def test_severity_must_be_an_integer_from_1_to_4(value: object) -> None:
    with pytest.raises(BadRequest):
        v.integer({"max_severity": value}, "max_severity", low=1, high=4)


@pytest.mark.parametrize("value", ["2026-13-01T00:00:00Z", "tomorrow", "2026-12-01T10:00:00", 5])
def test_timestamps_need_a_zone_and_a_real_date(value: object) -> None:
    with pytest.raises(BadRequest):
        v.timestamp({"notify_at": value}, "notify_at")
