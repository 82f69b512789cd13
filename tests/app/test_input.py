"""Input that cannot poison a header, a page or the pipeline, through the API: text that may reach a header
or a page refuses line and paragraph separators, controls, format characters and lone surrogates (400
naming the field and the character); addresses go through email-validator; bodies that would crash a
parser or a clock are 400s; Chalice's own refusals come in our error shape. Every refusal writes nothing."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from chalice.test import Client

from tests.app.flows import create_release
from tests.conftest import account_body, auth, unique

NASTY = {"\u2028": "U+2028", "\u2029": "U+2029", "\u0085": "U+0085", "\u202e": "U+202E", "\ud800": "U+D800"}


def _json(resp: Any) -> Any:
    return json.loads(resp.body)


def _items_with(table: Any, attribute: str, value: str) -> list[dict[str, Any]]:
    """Every item of the table whose ``attribute`` is ``value`` (a test's own client: the app's may not Scan)."""
    db = boto3.client("dynamodb", region_name="us-east-1")
    found: list[dict[str, Any]] = []
    for page in db.get_paginator("scan").paginate(
        TableName=table.name,
        FilterExpression="#a = :v",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":v": {"S": value}},
    ):
        found += page["Items"]
    return found


def _refused(resp: Any, field: str, *also: str, status: int = 400) -> dict[str, Any]:
    body = _json(resp)
    assert resp.status_code == status, resp.body
    assert set(body) == {"error", "message"} and f"'{field}'" in body["message"], body
    for word in also:
        assert word in body["message"], body
    return dict(body)


def _body(raw: dict[str, Any]) -> str:
    return json.dumps(raw)  # ensure_ascii: a lone surrogate travels as the JSON escape "\ud800"


# -- releases -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def product(app_client: Client) -> str:
    name = unique("IN")
    resp = app_client.http.put(f"/products/{name}", headers=auth("support-admin"), body=json.dumps({"name": name}))
    assert resp.status_code == 200
    return name


def _release(product: str, **over: Any) -> dict[str, Any]:
    body = {
        "product": product,
        "version": unique("v"),
        "kind": "patch",
        "severity": 2,
        "title": "Rounding fix",
        "summary": "Fixes totals",
        "filename": "fix.zip",
        "size": 10,
        "sha256": "0" * 64,
        **over,
    }
    return body


@pytest.mark.parametrize(
    ("field", "value", "char"),
    [("title", f"Rounding{c}fix", name) for c, name in NASTY.items()]
    + [("summary", f"Fixes{c}totals", name) for c, name in NASTY.items()]
    + [("summary", "line one\r\nline two", "U+000D"), ("title", "Rounding\tfix", "U+0009")]
    + [("version", "1.0.4\u2028", "U+2028"), ("version", "1.0\u202e4", "U+202E"), ("version", "1.0.4\n", "U+000A")]
    + [("filename", "fix\u2028.zip", "U+2028"), ("filename", "fix.zip\n", "U+000A"), ("filename", "gpj.\u202eexe", "")]
    + [("filename", "fix\ud800.zip", "U+D800"), ("version", "1.0\ud800", "U+D800")],
)
def test_release_text_that_may_reach_a_header_or_page_is_refused_naming_field_and_character(
    app_client: Client, table: Any, product: str, field: str, value: str, char: str
) -> None:
    # GIVEN a release whose one field carries a character that must not reach a Subject or a page
    body = _release(product, **{field: value})
    # WHEN a release engineer creates it
    resp = app_client.http.post("/releases", headers=auth("release-engineer"), body=_body(body))
    # THEN 400 naming the field and the character, and no release (nor its uniqueness key) was written
    _refused(resp, field, char)
    assert _items_with(table, "version", body["version"]) == []


def test_a_version_with_a_final_newline_is_refused_though_the_pattern_matches_before_it(
    app_client: Client, table: Any, product: str
) -> None:
    resp = app_client.http.post(
        "/releases", headers=auth("release-engineer"), body=_body(_release(product, version="1.0.4\n"))
    )
    _refused(resp, "version")
    assert _items_with(table, "version", "1.0.4\n") == []


@pytest.mark.parametrize(
    "notify_at",
    ["9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "2030-12-01T09:00:00Z\n",
     "2030-12-01T09:00:00", "\ud800"],
)  # fmt: skip
def test_an_out_of_range_or_malformed_notify_at_is_a_400_naming_it(
    app_client: Client, table: Any, product: str, notify_at: str
) -> None:
    body = _release(product, notify_at=notify_at)
    resp = app_client.http.post("/releases", headers=auth("release-engineer"), body=_body(body))
    _refused(resp, "notify_at")
    assert _items_with(table, "version", body["version"]) == []


@pytest.mark.parametrize(("char", "name"), list(NASTY.items()))
def test_a_yank_reason_that_could_poison_the_recall_is_refused_and_yanks_nothing(
    app_client: Client, product: str, char: str, name: str
) -> None:
    release = create_release(app_client, product, b"0123456789")
    resp = app_client.http.post(
        f"/releases/{release['id']}/yank", headers=auth("release-engineer"), body=_body({"reason": f"Corrupts{char}"})
    )
    _refused(resp, "reason", name)
    after = app_client.http.get(f"/releases/{release['id']}", headers=auth("release-engineer"))
    assert _json(after)["status"] == "awaiting-upload"


# -- the catalog and contracts --------------------------------------------------------------------
@pytest.mark.parametrize(("char", "name"), list(NASTY.items()))
def test_a_product_name_that_could_poison_a_subject_is_refused_and_not_written(
    app_client: Client, char: str, name: str
) -> None:
    product_id = unique("PN")
    resp = app_client.http.put(
        f"/products/{product_id}", headers=auth("support-admin"), body=_body({"name": f"Ledger{char}Pro"})
    )
    _refused(resp, "name", name)
    listed = _json(app_client.http.get("/products", headers=auth("support-admin")))["products"]
    assert product_id not in {p["product_id"] for p in listed}


@pytest.mark.parametrize(
    ("field", "value", "names"),
    [("name", f"Acme{c}Corp", n) for c, n in NASTY.items()]
    + [
        ("oncall_email", "=?utf-8?b?Y2VvQGJhbmsuZXhhbXBsZQ==?=@x.example", "encoded words"),
        ("oncall_email", "=?utf-8?q?ceo=40bank.example?=@x.example", "encoded words"),
        ("csm_email", "csm@acme.example\n", "U+000A"),
        ("csm_email", "csm\u2028@acme.example", "U+2028"),
        ("csm_email", '"csm"@acme.example', "valid email address"),
        ("oncall_email", "a" * 65 + "@acme.example", "64"),
        ("oncall_email", "ops@[192.0.2.1]", "valid email address"),
        ("timezone", "Europe/Stockholm\ud800", "U+D800"),
    ],
)
def test_a_bad_contract_field_is_refused_naming_it_and_writes_no_contract(
    app_client: Client, field: str, value: str, names: str
) -> None:
    admin = auth("support-admin")
    app_client.http.put("/products/M3", headers=admin, body=json.dumps({"name": "M3"}))
    account = unique("in")
    resp = app_client.http.put(
        f"/accounts/{account}", headers=admin, body=_body({**account_body("xtreme", ["M3"]), field: value})
    )
    _refused(resp, field, names)
    assert app_client.http.get(f"/accounts/{account}", headers=admin).status_code == 404


def test_contract_addresses_are_stored_normalised(app_client: Client) -> None:
    admin = auth("support-admin")
    app_client.http.put("/products/M3", headers=admin, body=json.dumps({"name": "M3"}))
    account = unique("in")
    body = {
        **account_body("elite", ["M3"]),
        "csm_email": "Kim.CSM@Vendor.Example",
        "oncall_email": "ops@Bücher.Example",
    }
    resp = app_client.http.put(f"/accounts/{account}", headers=admin, body=json.dumps(body))
    assert resp.status_code == 200, resp.body
    assert _json(resp)["csm_email"] == "Kim.CSM@vendor.example"
    assert _json(resp)["oncall_email"] == "ops@xn--bcher-kva.example"


# -- any body -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"name":' * 100_000 + '"x"' + "}" * 100_000,
        '{"name": ' + "[" * 50 + "]" * 50 + "}",
    ],
)
def test_json_nested_deeply_is_a_400_invalid_json(app_client: Client, raw: str) -> None:
    resp = app_client.http.put(f"/products/{unique('deep')}", headers=auth("support-admin"), body=raw)
    assert resp.status_code == 400 and _json(resp)["error"] == "invalid_json", resp.body[:200]


@pytest.mark.parametrize(
    ("raw", "names"),
    [('{"name": "Acme", "tier": "elite\\ud800"}', "'tier'"), ('{"products": ["M3", "\\udfff"]}', "'products[1]'"),
     ('{"\\ud800": 1}', "field name")],
)  # fmt: skip
def test_a_lone_surrogate_anywhere_in_a_body_is_a_400_naming_where(app_client: Client, raw: str, names: str) -> None:
    admin = auth("support-admin")
    account = unique("sg")
    resp = app_client.http.put(f"/accounts/{account}", headers=admin, body=raw)
    assert resp.status_code == 400 and names in _json(resp)["message"], resp.body
    assert app_client.http.get(f"/accounts/{account}", headers=admin).status_code == 404


# -- Chalice's own answers ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("delete", "/health", {}, 405, "method_not_allowed"),
        ("patch", "/tiers", {}, 405, "method_not_allowed"),
        ("put", "/products/X", {"Content-Type": "text/xml"}, 415, "unsupported_media_type"),
        ("post", "/unsubscribe?token=x", {"Content-Type": "application/json"}, 415, "unsupported_media_type"),
    ],
)
def test_chalices_own_refusals_come_in_our_error_shape(
    app_client: Client, method: str, path: str, headers: dict[str, str], status: int, code: str
) -> None:
    resp = getattr(app_client.http, method)(path, headers={**auth("support-admin"), **headers}, body="<x/>")
    assert resp.status_code == status and _json(resp) == {"error": code, "message": _json(resp)["message"]}
    if status == 405:
        assert "GET" in resp.headers["Allow"]


def test_invalid_json_sent_as_application_json_is_ours_not_chalices(app_client: Client) -> None:
    resp = app_client.http.put("/products/X", headers=auth("support-admin"), body="{bad")
    assert resp.status_code == 400 and _json(resp)["error"] == "invalid_json"
