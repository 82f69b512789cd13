"""The red team's query strings, each a 400 in our error shape that writes nothing (issue 27, items 6 and 12):
Unicode digits ("²" passes ``str.isdigit``, ``int`` refuses it) in ``severity`` and ``limit``, review dates
at the ends of the calendar (``OverflowError``), and forged list cursors whose keys DynamoDB refuses (an empty
or a 3,000-character key value: moto took them, DynamoDB answers ``ValidationException``)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from chalice.test import Client

from tests.app.test_portal import _csrf, _get, _post
from tests.app.test_portal import _customer as _portal_customer
from tests.app.test_subscriptions import _customer
from tests.conftest import auth, token, unique

UNICODE_DIGITS = ["²", "١", "𝟓", "5²"]  # superscript two, Arabic-Indic one (int() takes it), mathematical five


def _refused(resp: Any, field: str) -> None:
    body = json.loads(resp.body)
    assert resp.status_code == 400, resp.body
    assert set(body) == {"error", "message"} and f"'{field}'" in body["message"], body


@pytest.fixture(scope="module")
def customer(app_client: Client) -> dict[str, str]:
    account, (product,) = _customer(app_client, "elite")
    return {**auth("customer", account, "ops@customer.example"), "account": account, "product": product}


def _as(who: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in who.items() if k not in ("account", "product")}


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
@pytest.mark.parametrize(
    ("path", "field", "role"),
    [
        ("/catalog?severity={}", "severity", "customer"),
        ("/catalog?limit={}", "limit", "customer"),
        ("/releases?limit={}", "limit", "release-engineer"),
        ("/announcements?limit={}", "limit", "release-engineer"),
    ],
)
def test_unicode_digits_in_a_number_are_a_400_naming_it(
    app_client: Client, customer: dict[str, str], digits: str, path: str, field: str, role: str
) -> None:
    headers = _as(customer) if role == "customer" else auth(role)
    _refused(app_client.http.get(path.format(digits), headers=headers), field)


def test_ascii_numbers_still_filter_and_page(app_client: Client, customer: dict[str, str]) -> None:
    for path in ("/catalog?severity=2&limit=7", "/catalog?limit=100"):
        assert app_client.http.get(path, headers=_as(customer)).status_code == 200
    assert app_client.http.get("/releases?limit=3", headers=auth("release-engineer")).status_code == 200
    _refused(app_client.http.get("/catalog?limit=101", headers=_as(customer)), "limit")


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
def test_unicode_digits_on_the_portals_fixes_and_alerts_are_a_400_that_writes_nothing(
    app_client: Client, digits: str
) -> None:
    account, product = _portal_customer(app_client)
    session = token("customer", account, "a@customer.example")
    assert _get(app_client, f"/portal/fixes?severity={digits}", session).status_code == 400
    form = {"csrf": _csrf(_get(app_client, "/portal/alerts", session)), "products": product, "kinds": ["patch"]}
    address = f"{unique('sev')}@customer.example"
    resp = _post(app_client, "/portal/alerts", session, {**form, "email": address, "max_severity": digits})
    assert resp.status_code == 400 and "max_severity" in resp.body.decode()
    mine = json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)
    assert mine["subscriptions"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=9999-12-31", "to"),
        ("from=9999-12-31", "from"),
        ("from=0001-01-01&to=0001-01-02", "from"),
        ("from=0001-01-01T00:00:00Z&to=0001-01-01T10:00:00Z", "from"),
        ("from=9998-12-31T23:00:00Z&to=9999-12-31T23:59:59Z", "to"),
    ],
)
def test_review_dates_at_the_ends_of_the_calendar_are_a_400(
    app_client: Client, customer: dict[str, str], query: str, field: str
) -> None:
    resp = app_client.http.get(f"/accounts/{customer['account']}/review?{query}", headers=auth("support-admin"))
    _refused(resp, field)


def test_the_last_and_first_days_a_review_may_cover_are_answered(app_client: Client, customer: dict[str, str]) -> None:
    for query in ("from=9998-01-01&to=9998-12-31", "from=1970-01-01&to=1970-12-31"):
        resp = app_client.http.get(f"/accounts/{customer['account']}/review?{query}", headers=auth("support-admin"))
        assert resp.status_code == 200, resp.body


def _key(**values: str) -> str:
    """A store cursor as the store encodes one: base64 of the start key's JSON."""
    return base64.urlsafe_b64encode(json.dumps({k: {"S": v} for k, v in values.items()}).encode()).decode()


def _release_key(pk: str = "RELEASE#r1", sk: str = "RELEASE", gsi2sk: str = "2026-01-01T00:00:00Z#r1") -> str:
    return _key(PK=pk, SK=sk, GSI2PK="RELEASES", GSI2SK=gsi2sk)


FORGED = {
    "an empty sort key": {"sk": ""},
    "an empty index sort key": {"gsi2sk": ""},
    "a 3,000-character sort key": {"sk": "x" * 3000},
    "a 3,000-character partition key": {"pk": "RELEASE#" + "x" * 3000},
}


@pytest.mark.parametrize("forged", FORGED.values(), ids=FORGED.keys())
def test_a_forged_catalog_cursor_is_a_400_before_it_reaches_dynamodb(
    app_client: Client, customer: dict[str, str], forged: dict[str, str]
) -> None:
    inner = _release_key(**forged)
    outer = base64.urlsafe_b64encode(json.dumps({"p": customer["product"], "c": inner}).encode()).decode()
    resp = app_client.http.get(f"/catalog?cursor={outer.rstrip('=')}", headers=_as(customer))
    _refused(resp, "cursor")
    assert json.loads(resp.body)["error"] == "invalid_cursor"


@pytest.mark.parametrize("forged", FORGED.values(), ids=FORGED.keys())
def test_a_forged_release_list_cursor_is_a_400(app_client: Client, forged: dict[str, str]) -> None:
    resp = app_client.http.get(f"/releases?cursor={_release_key(**forged)}", headers=auth("release-engineer"))
    _refused(resp, "cursor")


@pytest.mark.parametrize(
    "cursor",
    [
        _key(PK="", SK="ANNOUNCEMENT", GSI2PK="ANNOUNCEMENTS", GSI2SK="x"),
        _key(PK="ANNOUNCEMENT#a", SK="x" * 3000, GSI2PK="ANNOUNCEMENTS", GSI2SK="x"),
        _key(PK="ANNOUNCEMENT#a", SK="ANNOUNCEMENT", GSI2PK="ANNOUNCEMENTS", GSI2SK="", Other="x"),
    ],
)
def test_a_forged_announcement_list_cursor_is_a_400(app_client: Client, cursor: str) -> None:
    _refused(app_client.http.get(f"/announcements?cursor={cursor}", headers=auth("release-engineer")), "cursor")
