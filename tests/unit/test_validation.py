"""Request-body checks: whole-value patterns, safe text, addresses by email-validator, bounded JSON."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.core import timestamps
from chalicelib.domain.core import validation as v
from chalicelib.domain.core.errors import BadRequest


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
        "=?utf-8?b?Y2VvQGJhbmsuZXhhbXBsZQ==?=@x.example",
        "=?utf-8?q?ceo=40bank.example?=@x.example",
        "ok@x.example\n",
        "ok\u2028@x.example",
        "\u202eok@x.example",
        '"quoted"@x.example',
        "ok@[192.0.2.1]",
        "Ops <ok@x.example>",
        "ö@x.example",
        "a..b@x.example",
        ("a" * 63 + ".") * 4 + "@x.example",
    ],
)
def test_bad_email_addresses_are_refused(address: str) -> None:
    with pytest.raises(BadRequest):
        v.email(address)


def test_a_good_address_keeps_its_local_part_and_lowers_its_domain() -> None:
    assert v.email("Ops.Team+m3@ACME.Example") == "Ops.Team+m3@acme.example"
    assert v.email("a" * 64 + "@x.example") == "a" * 64 + "@x.example"
    assert v.email("ops@Bücher.Example") == "ops@xn--bcher-kva.example"  # ASCII (IDNA) for the header


def test_a_bad_address_is_refused_naming_the_field() -> None:
    with pytest.raises(BadRequest) as err:
        v.email("=?utf-8?q?x?=@x.example", "oncall_email")
    assert err.value.code == "invalid_field" and "'oncall_email'" in err.value.message
    with pytest.raises(BadRequest) as err:
        v.email("ok\u2028@x.example", "csm_email")
    assert "'csm_email'" in err.value.message and "U+2028" in err.value.message


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\u202e", "\u2066", "\ud800", "\x00", "\r", "\n", "\t"])
def test_single_line_text_refuses_line_breaking_format_and_control_characters_by_name(char: str) -> None:
    with pytest.raises(BadRequest) as err:
        v.text({"title": f"Fix {char}rounding"}, "title", max_len=200)
    assert err.value.code == "invalid_field"
    assert f"Field 'title' contains U+{ord(char):04X}" in err.value.message


@pytest.mark.parametrize("char", ["\u2028", "\u0085", "\u202e", "\ud800", "\r"])
def test_multi_line_text_keeps_lf_and_tab_and_refuses_the_rest(char: str) -> None:
    assert v.text({"summary": "one\n\ttwo"}, "summary", max_len=100, multiline=True) == "one\n\ttwo"
    with pytest.raises(BadRequest) as err:
        v.text({"summary": f"one{char}two"}, "summary", max_len=100, multiline=True)
    assert f"Field 'summary' contains U+{ord(char):04X}" in err.value.message


@pytest.mark.parametrize("value", ["M3\n", "M3\r\n", "M3 ", "M3\u2028", "-M3", "x" * 65])
def test_identifiers_match_the_whole_value(value: str) -> None:
    with pytest.raises(BadRequest):
        v.ident(value, "product")


@pytest.mark.parametrize("value", ["2026-12-01\n", "20261201", "2026-W49-1", "2026-12-01T00:00:00"])
def test_dates_are_whole_yyyy_mm_dd(value: str) -> None:
    with pytest.raises(BadRequest) as err:
        timestamps.parse_date(value, "support_end")
    assert "'support_end'" in err.value.message


@pytest.mark.parametrize(
    "raw", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000, '{"a":' + "[" * 40 + "]" * 40 + "}"]
)
def test_deeply_nested_json_is_a_400_not_a_recursion_error(raw: str) -> None:
    with pytest.raises(BadRequest) as err:
        v.parse_json_object(raw)
    assert err.value.code == "invalid_json" and "nested" in err.value.message


def test_json_nested_as_deep_as_the_limit_still_parses() -> None:
    raw = '{"a":' + "[" * (v.MAX_DEPTH - 1) + "]" * (v.MAX_DEPTH - 1) + "}"
    assert v.parse_json_object(raw)["a"] is not None


@pytest.mark.parametrize(
    ("raw", "names"),
    [('{"name": "\\ud800"}', "'name'"), ('{"products": ["M3", "\\udfff"]}', "'products[1]'"),
     ('{"business_hours": {"start": "\\ud83d"}}', "'business_hours.start'"), ('{"\\ud800": 1}', "field name")],
)  # fmt: skip
def test_a_lone_surrogate_anywhere_in_a_body_is_refused_naming_where(raw: str, names: str) -> None:
    with pytest.raises(BadRequest) as err:
        v.parse_json_object(raw)
    assert err.value.code == "invalid_field" and names in err.value.message and "U+D" in err.value.message


def test_a_surrogate_pair_is_text_and_passes() -> None:
    assert v.parse_json_object(json.dumps({"name": "\U0001f600"}))["name"] == "\U0001f600"


@pytest.mark.parametrize("value", [0, 5, "1", True, 1.5])
def test_severity_must_be_an_integer_from_1_to_4(value: object) -> None:
    with pytest.raises(BadRequest):
        v.integer({"max_severity": value}, "max_severity", low=1, high=4)


@pytest.mark.parametrize(
    "value",
    ["2026-13-01T00:00:00Z", "tomorrow", "2026-12-01T10:00:00", 5, "2026-12-01T10:00:00Z\n", "2026-W49-1T10:00:00Z",
     "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "0000-01-01T00:00:00Z", "٢٠٢٦-12-01T10:00:00Z"],
)  # fmt: skip
def test_timestamps_need_a_zone_and_a_real_date_in_range(value: object) -> None:
    with pytest.raises(BadRequest) as err:
        timestamps.timestamp({"notify_at": value}, "notify_at")
    assert "'notify_at'" in err.value.message


def test_a_timestamp_is_read_as_utc() -> None:
    assert (
        timestamps.parse_timestamp("2026-12-01T10:00:00.5+01:00", "t").isoformat() == "2026-12-01T09:00:00.500000+00:00"
    )
