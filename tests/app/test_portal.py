"""The portal through chalice.test.Client: the local sign-in (code + PKCE + state), the session cookie and
what makes it signed out, CSRF on every form, no IDOR, escaping, no open redirect, and the catalogue."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from html import unescape
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import jwt
import pytest
from chalice.test import Client
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.app.flows import emails_to
from tests.app.test_downloads import _release
from tests.conftest import auth, token, unique

BASE = "https://patchcast.test"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _cookie(resp: Any, name: str) -> str:
    raw = resp.headers.get("Set-Cookie", "")
    values = raw if isinstance(raw, list) else [raw]
    found = [v for v in values for part in [v.split(";")[0]] if part.startswith(f"{name}=")]
    return found[0] if found else ""


def _path(location: str) -> str:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == BASE, location
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _sign_in(client: Client, account: str, email: str, next_path: str = "/portal") -> tuple[str, str]:
    """The whole local flow as a browser follows it: (the session cookie's value, where it lands)."""
    start = client.http.get(f"/portal/signin?next={quote(next_path, safe='')}")
    assert start.status_code == 302
    pending = _cookie(start, "patchcast_signin").split(";")[0]
    authorize = _path(start.headers["Location"])
    assert authorize.startswith("/portal/local/authorize?") and "code_challenge_method=S256" in authorize
    page = client.http.get(authorize)
    assert page.status_code == 200 and '<label for="account">' in page.body.decode()
    code = client.http.post(authorize, headers=FORM, body=urlencode({"account": account, "email": email}))
    assert code.status_code == 303, code.body
    done = client.http.get(_path(code.headers["Location"]), headers={"Cookie": pending})
    assert done.status_code == 302, done.body
    session = _cookie(done, "patchcast_session")
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Secure" in session
    assert "Max-Age=43200" in session  # twelve hours at most; the ID token inside is renewed on the server
    return session.split(";")[0].split("=", 1)[1], done.headers["Location"]


def _customer(
    client: Client, *, tier: str = "premium", name: str = "Customer", end: date = date(2030, 12, 31)
) -> tuple[str, str]:
    admin = auth("support-admin")
    product, account = unique("P"), unique("acct")
    client.http.put(f"/products/{product}", headers=admin, body=json.dumps({"name": product}))
    body = {
        "name": name,
        "tier": tier,
        "products": [product],
        "support_start": "2026-01-01",
        "support_end": end.isoformat(),
    }
    assert client.http.put(f"/accounts/{account}", headers=admin, body=json.dumps(body)).status_code == 200
    return account, product


_SESSIONS: dict[str, str] = {}


def session_of(value: str) -> str:
    """A session on the server for an ID token (as the callback opens one), one per token; any other value
    (a session id, garbage) is the cookie as given."""
    from chalicelib.routes.web import server_session

    if value.count(".") != 2:
        return value
    if value not in _SESSIONS:
        _SESSIONS[value] = server_session.open_session(value, "")
    return _SESSIONS[value]


def _get(client: Client, path: str, session: str) -> Any:
    return client.http.get(path, headers={"Cookie": f"patchcast_session={session_of(session)}"})


def _post(client: Client, path: str, session: str, form: dict[str, Any]) -> Any:
    return client.http.post(
        path, headers={**FORM, "Cookie": f"patchcast_session={session_of(session)}"}, body=urlencode(form, doseq=True)
    )


def _csrf(page: Any) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.body.decode()).group(1)  # type: ignore[union-attr]


def test_signing_in_locally_is_a_code_flow_with_pkce_that_lands_on_the_asked_page(app_client: Client) -> None:
    account, _ = _customer(app_client)
    session, landed = _sign_in(app_client, account, "ops@customer.example", "/portal/alerts")
    assert landed == f"{BASE}/portal/alerts"
    page = _get(app_client, "/portal/alerts", session)
    assert page.status_code == 200 and "Your alerts" in page.body.decode()


def test_a_callback_without_this_browsers_state_signs_nobody_in(app_client: Client) -> None:
    start = app_client.http.get("/portal/signin")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    other = app_client.http.get("/portal/signin")  # another sign-in's cookie: its state and verifier differ
    pending = _cookie(other, "patchcast_signin").split(";")[0]
    code = app_client.http.post(
        _path(start.headers["Location"]), headers=FORM, body=urlencode({"account": "acme", "email": "ops@acme.example"})
    )
    back = _path(code.headers["Location"])
    assert app_client.http.get(back, headers={"Cookie": pending}).status_code == 400  # state differs
    assert app_client.http.get(back).status_code == 400  # no sign-in cookie at all
    assert query["state"][0] in back


@pytest.mark.parametrize("evil", ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)",
                                  "/portal//evil.example", "/portal:evil", " /portal"])  # fmt: skip
def test_next_only_ever_leads_to_the_portals_own_paths(app_client: Client, evil: str) -> None:
    _, landed = _sign_in(app_client, "acme", "ops@acme.example", evil)
    assert landed == f"{BASE}/portal"


def test_the_local_sign_in_page_sends_codes_only_to_the_apps_own_callback(app_client: Client) -> None:
    start = app_client.http.get("/portal/signin")
    evil = start.headers["Location"].replace(
        quote(f"{BASE}/portal/callback", safe=""), quote("https://evil.example/", safe="")
    )
    resp = app_client.http.post(_path(evil), headers=FORM, body=urlencode({"account": "a", "email": "a@b.example"}))
    assert resp.status_code == 400 and "Location" not in resp.headers


def _other_key_token(account: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(token("customer", account, "x@customer.example"), options={"verify_signature": False})
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "local-1"})


@pytest.mark.parametrize("kind", ["tampered", "expired", "other-key", "garbage"])
def test_a_bad_session_cookie_means_signed_out(app_client: Client, kind: str) -> None:
    good = token("customer", "acme", "ops@acme.example")
    cookie = {
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "expired": token("customer", "acme", "ops@acme.example", hours=-1),
        "other-key": _other_key_token("acme"),
        "garbage": "not-a-jwt",
    }[kind]
    resp = _get(app_client, "/portal/alerts", cookie)
    assert resp.status_code == 302 and _path(resp.headers["Location"]) == "/portal/signin?next=/portal/alerts"


@pytest.mark.parametrize("csrf", [None, "", "0" * 40, "wrong"])
def test_a_form_without_this_sessions_csrf_token_is_403_and_writes_nothing(
    app_client: Client, provisioned: str, csrf: str | None
) -> None:
    account, product = _customer(app_client)
    session = token("customer", account, "a@customer.example")
    address = f"{unique('csrf')}@customer.example"
    form: dict[str, Any] = {"email": address, "products": product, "kinds": "patch", "max_severity": "3"}
    if csrf is not None:
        form["csrf"] = csrf
    resp = _post(app_client, "/portal/alerts", session, form)
    assert resp.status_code == 403
    mine = json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)
    assert mine["subscriptions"] == [] and emails_to(provisioned, address) == []
    # and another session's token is as wrong as none
    other = _csrf(_get(app_client, "/portal/alerts", token("customer", account, "b@customer.example")))
    assert _post(app_client, "/portal/alerts", session, {**form, "csrf": other}).status_code == 403


def test_the_alerts_form_sets_version_lines_and_digests_as_the_api_does_and_refuses_bad_lines(
    app_client: Client, provisioned: str
) -> None:
    account, product = _customer(app_client)
    session = token("customer", account, "a@customer.example")
    csrf = _csrf(_get(app_client, "/portal/alerts", session))
    form = {"csrf": csrf, "products": product, "kinds": ["patch"], "max_severity": "4"}
    # a line that is not dotted numbers: the page names the field, and nothing is written or sent
    bad = f"{unique('pv')}@customer.example"
    refused = _post(app_client, "/portal/alerts", session, {**form, "email": bad, f"installed-{product}": "13.x"})
    assert refused.status_code == 400 and "installed" in refused.body.decode() and emails_to(provisioned, bad) == []
    address = f"{unique('pv')}@customer.example"
    made = _post(
        app_client,
        "/portal/alerts",
        session,
        {
            **form,
            "email": address,
            f"installed-{product}": "13.4, 13.5.2",
            "digest-3": "daily",
            "digest-4": "weekly",
            "digest-2": "instant",
        },
    )
    assert made.status_code == 303
    (sub,) = json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)["subscriptions"]
    assert sub["installed"] == {product: ["13.4", "13.5.2"]} and sub["digest"] == {"3": "daily", "4": "weekly"}
    page = _get(app_client, "/portal/alerts", session).body.decode()
    assert 'value="13.4, 13.5.2"' in page and '<option value="daily" selected>' in page
    # emptied again: every line, all at once
    changed = _post(app_client, f"/portal/alerts/{sub['id']}", session, {**form, f"installed-{product}": ""})
    assert changed.status_code == 303
    (sub,) = json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)["subscriptions"]
    assert sub.get("installed") is None and not sub.get("digest")


def test_alerts_create_edit_resend_and_remove_through_the_forms(
    app_client: Client, provisioned: str, later: Callable[[float], None]
) -> None:
    account, product = _customer(app_client)
    session = token("customer", account, "a@customer.example")
    csrf = _csrf(_get(app_client, "/portal/alerts", session))
    address = f"{unique('pf')}@customer.example"
    made = _post(
        app_client,
        "/portal/alerts",
        session,
        {"csrf": csrf, "email": address, "products": product, "kinds": ["critical-solution"], "max_severity": "1"},
    )
    assert made.status_code == 303 and len(emails_to(provisioned, address)) == 1
    (sub,) = json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)["subscriptions"]
    assert sub["status"] == "pending" and sub["kinds"] == ["critical-solution"]
    # a resend within 10 minutes of the first email is refused as the API refuses it, and sends nothing
    refused = _post(app_client, f"/portal/alerts/{sub['id']}/confirmation", session, {"csrf": csrf})
    assert refused.status_code == 429 and len(emails_to(provisioned, address)) == 1
    later(601)
    assert _post(app_client, f"/portal/alerts/{sub['id']}/confirmation", session, {"csrf": csrf}).status_code == 303
    assert len(emails_to(provisioned, address)) == 2
    changed = _post(
        app_client,
        f"/portal/alerts/{sub['id']}",
        session,
        {"csrf": csrf, "products": product, "kinds": ["patch", "update"], "max_severity": "2"},
    )
    assert changed.status_code == 303
    (sub,) = json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)["subscriptions"]
    assert sub["kinds"] == ["patch", "update"] and sub["max_severity"] == 2
    bad = _post(
        app_client,
        f"/portal/alerts/{sub['id']}",
        session,
        {"csrf": csrf, "products": product, "kinds": "nope", "max_severity": "2"},
    )
    assert bad.status_code == 400 and "kinds" in unescape(bad.body.decode())
    assert _post(app_client, f"/portal/alerts/{sub['id']}/remove", session, {"csrf": csrf}).status_code == 303
    assert (
        json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)["subscriptions"] == []
    )


def test_another_accounts_subscription_or_release_is_404_in_the_portal(app_client: Client, wired: Any) -> None:
    mine, _ = _customer(app_client)
    theirs, their_product = _customer(app_client)
    their_sub = json.loads(
        app_client.http.post(
            "/subscriptions",
            headers=auth("customer", theirs),
            body=json.dumps(
                {
                    "email": f"{unique('t')}@customer.example",
                    "products": [their_product],
                    "kinds": ["patch"],
                    "max_severity": 4,
                }
            ),
        ).body
    )["id"]
    session = token("customer", mine, "m@customer.example")
    csrf = _csrf(_get(app_client, "/portal/alerts", session))
    for action in ("", "/remove", "/confirmation"):
        resp = _post(
            app_client,
            f"/portal/alerts/{their_sub}{action}",
            session,
            {"csrf": csrf, "products": their_product, "kinds": "patch", "max_severity": "1"},
        )
        assert resp.status_code == 404, action
    (still,) = json.loads(app_client.http.get("/subscriptions", headers=auth("customer", theirs)).body)["subscriptions"]
    assert still["max_severity"] == 4
    release = _release(wired, their_product)
    assert _get(app_client, f"/portal/fixes/{release.release_id}/download", session).status_code == 404
    assert _get(app_client, "/portal/fixes/no-such-release/download", session).status_code == 404
    resp = app_client.http.get(f"/catalog/{release.release_id}/download", headers=auth("customer", mine))
    assert resp.status_code == 404
    assert (
        app_client.http.post(f"/subscriptions/{their_sub}/confirmation", headers=auth("customer", mine)).status_code
        == 404
    )


def test_every_text_a_page_shows_is_escaped(app_client: Client, wired: Any) -> None:
    evil = "<script>alert(1)</script>"
    account, product = _customer(app_client, name=f"Evil {evil} Ltd")
    release = _release(wired, product)
    wired.table._db.update_item(
        TableName=wired.table.name,
        Key={"PK": {"S": f"RELEASE#{release.release_id}"}, "SK": {"S": "RELEASE"}},
        UpdateExpression="SET title = :t",
        ExpressionAttributeValues={":t": {"S": f"Fix {evil}"}},
    )
    session = token("customer", account, f"o'neil+{unique('x')}@customer.example")
    for path in ("/portal", "/portal/fixes", "/portal/alerts"):
        body = _get(app_client, path, session).body.decode()
        assert "<script" not in body, path
    assert "&lt;script&gt;" in _get(app_client, "/portal/fixes", session).body.decode()
    assert "&lt;script&gt;" in _get(app_client, "/portal", session).body.decode()


def test_the_catalogue_lists_pages_filters_and_downloads_with_the_same_audit(app_client: Client, wired: Any) -> None:
    account, product = _customer(app_client)
    first, second = _release(wired, product), _release(wired, product)
    headers = auth("customer", account, "dl@customer.example")
    listed = json.loads(app_client.http.get("/catalog", headers=headers).body)
    assert {i["id"] for i in listed["items"]} == {first.release_id, second.release_id} and listed["next"] is None
    page1 = json.loads(app_client.http.get("/catalog?limit=1", headers=headers).body)
    page2 = json.loads(app_client.http.get(f"/catalog?limit=1&cursor={page1['next']}", headers=headers).body)
    assert len(page1["items"]) == 1 and {page1["items"][0]["id"], page2["items"][0]["id"]} == {
        first.release_id,
        second.release_id,
    }
    assert json.loads(app_client.http.get("/catalog?kind=update", headers=headers).body)["items"] == []
    assert json.loads(app_client.http.get("/catalog?severity=1", headers=headers).body)["items"] == []
    for bad in ("kind=nope", "severity=9", "cursor=xyz", "product=NOTMINE", "colour=red"):
        resp = app_client.http.get(f"/catalog?{bad}", headers=headers)
        assert 400 <= resp.status_code < 500 and set(json.loads(resp.body)) >= {"error", "message"}, bad
    resp = app_client.http.get(f"/catalog/{first.release_id}/download", headers=headers)
    assert resp.status_code == 302 and "X-Amz-Signature" in resp.headers["Location"]
    audit = list(wired.table.download_audit(first.release_id))
    assert [a["account_id"]["S"] if isinstance(a["account_id"], dict) else a["account_id"] for a in audit] == [account]


def test_a_lapsed_account_gets_the_refusal_page_and_the_api_its_403(app_client: Client, wired: Any) -> None:
    account, product = _customer(app_client, end=date(2026, 1, 31))
    release = _release(wired, product)
    session = token("customer", account, "late@customer.example")
    page = _get(app_client, f"/portal/fixes/{release.release_id}/download", session)
    assert page.status_code == 403 and "renew the support contract" in page.body.decode()
    assert "Back to the portal" in page.body.decode()
    assert _get(app_client, "/portal/fixes", session).status_code == 403
    api = app_client.http.get("/catalog", headers=auth("customer", account))
    assert api.status_code == 403 and json.loads(api.body)["error"] == "support_period_ended"


def test_a_withdrawn_release_is_a_410_page_naming_its_successor(app_client: Client, wired: Any) -> None:
    account, product = _customer(app_client)
    old, new = _release(wired, product), _release(wired, product)
    wired.table._db.update_item(
        TableName=wired.table.name,
        Key={"PK": {"S": f"RELEASE#{old.release_id}"}, "SK": {"S": "RELEASE"}},
        UpdateExpression="SET #s = :y, superseded_by = :n, superseded_version = :v, reason = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":y": {"S": "yanked"},
            ":n": {"S": new.release_id},
            ":v": {"S": new.version},
            ":r": {"S": "corrupts data"},
        },
    )
    page = _get(
        app_client, f"/portal/fixes/{old.release_id}/download", token("customer", account, "y@customer.example")
    )
    assert page.status_code == 410 and "corrupts data" in page.body.decode()
    assert f"/portal/fixes/{new.release_id}/download" in page.body.decode()


def test_confirming_is_a_post_a_get_changes_nothing_and_twice_is_200(app_client: Client, provisioned: str) -> None:
    account, product = _customer(app_client)
    address = f"{unique('cfp')}@customer.example"
    body = {"email": address, "products": [product], "kinds": ["patch"], "max_severity": 4}
    app_client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body))
    from tests.helpers import link

    confirm = _path(link(emails_to(provisioned, address)[-1], "/subscriptions/confirm"))
    page = app_client.http.get(confirm)
    assert page.status_code == 200 and 'method="post"' in page.body.decode() and "<button" in page.body.decode()
    assert app_client.http.get(confirm, headers={"Accept": "application/json"}).status_code == 200

    def mine() -> list[dict[str, Any]]:
        return list(
            json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)["subscriptions"]
        )

    assert mine()[0]["status"] == "pending"
    assert app_client.http.post(confirm, headers=FORM, body="").status_code == 200
    assert mine()[0]["status"] == "active"
    token_only = confirm.split("token=", 1)[1]
    again = app_client.http.post(
        "/subscriptions/confirm",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        body=json.dumps({"token": token_only.replace("%3D", "=")}),
    )
    assert again.status_code == 200 and json.loads(again.body)["status"] == "active"


def test_resending_a_confirmation_is_for_pending_subscriptions_only(
    app_client: Client, provisioned: str, later: Callable[[float], None]
) -> None:
    account, product = _customer(app_client)
    address = f"{unique('rs')}@customer.example"
    body = {"email": address, "products": [product], "kinds": ["patch"], "max_severity": 4}
    sub = json.loads(
        app_client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body)).body
    )["id"]
    too_soon = app_client.http.post(f"/subscriptions/{sub}/confirmation", headers=auth("customer", account))
    assert too_soon.status_code == 429 and too_soon.headers["Retry-After"] and len(emails_to(provisioned, address)) == 1
    later(601)
    resp = app_client.http.post(f"/subscriptions/{sub}/confirmation", headers=auth("customer", account))
    assert resp.status_code == 202 and len(emails_to(provisioned, address)) == 2
    from tests.helpers import link

    assert (
        app_client.http.post(_path(link(emails_to(provisioned, address)[-1], "/subscriptions/confirm"))).status_code
        == 200
    )
    resp = app_client.http.post(f"/subscriptions/{sub}/confirmation", headers=auth("customer", account))
    assert resp.status_code == 409 and len(emails_to(provisioned, address)) == 2


def test_sign_out_clears_the_session(app_client: Client) -> None:
    session = token("customer", "acme", "ops@acme.example")
    csrf = _csrf(_get(app_client, "/portal", session))
    assert _post(app_client, "/portal/signout", session, {}).status_code == 403
    out = _post(app_client, "/portal/signout", session, {"csrf": csrf})
    assert out.status_code == 302 and _path(out.headers["Location"]) == "/portal/signed-out"
    assert "Max-Age=0" in _cookie(out, "patchcast_session")


def test_pages_share_one_stylesheet_that_the_app_serves(app_client: Client) -> None:
    css = app_client.http.get("/portal/static/style.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    page = app_client.http.get("/unsubscribe?token=bad")
    from chalicelib.adapters import settings

    base = settings.get().public_base_url  # the app's (a test before may have moved it)
    assert f"{base}/portal/static/style.css" in page.body.decode() and f"{base}/portal'" in page.body.decode()


def _pending(resp: Any) -> tuple[str, dict[str, Any]]:
    """A sign-in's cookie and what it holds (state, verifier): MAC'd, not secret from its own browser."""
    import base64

    cookie = _cookie(resp, "patchcast_signin").split(";")[0]
    body = cookie.split("=", 1)[1].split(".")[0]
    return cookie, json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_the_callback_checks_the_state_even_when_the_code_would_pass_pkce(app_client: Client) -> None:
    import base64
    import hashlib

    from chalicelib.routes.web import local_issuer

    cookie, held = _pending(app_client.http.get("/portal/signin"))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(held["v"].encode()).digest()).rstrip(b"=").decode()
    code = local_issuer.issue_code(account="acme", email="ops@acme.example", challenge=challenge)
    wrong = app_client.http.get(
        f"/portal/callback?{urlencode({'code': code, 'state': 'not-' + held['s']})}", headers={"Cookie": cookie}
    )
    assert wrong.status_code == 400 and "patchcast_session=ey" not in str(wrong.headers.get("Set-Cookie"))
    right = app_client.http.get(
        f"/portal/callback?{urlencode({'code': code, 'state': held['s']})}", headers={"Cookie": cookie}
    )
    assert right.status_code == 302


def test_a_code_issued_for_another_sign_ins_challenge_fails_pkce(app_client: Client) -> None:
    mine = app_client.http.get("/portal/signin")
    cookie, held = _pending(mine)
    theirs = app_client.http.get("/portal/signin")  # an intercepted code belongs to another verifier
    code = app_client.http.post(
        _path(theirs.headers["Location"]),
        headers=FORM,
        body=urlencode({"account": "acme", "email": "ops@acme.example"}),
    )
    stolen = parse_qs(urlsplit(code.headers["Location"]).query)["code"][0]
    resp = app_client.http.get(
        f"/portal/callback?{urlencode({'code': stolen, 'state': held['s']})}", headers={"Cookie": cookie}
    )
    assert resp.status_code == 400


def test_a_suppressed_subscription_says_why(app_client: Client, wired: Any) -> None:
    account, product = _customer(app_client)
    address = f"{unique('sup')}@customer.example"
    body = {"email": address, "products": [product], "kinds": ["patch"], "max_severity": 4}
    app_client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body))
    wired.table.suppress_address(address, reason="complaint", detail="abuse", feedback_id=unique("fb"))
    page = _get(app_client, "/portal/alerts", token("customer", account, address)).body.decode()
    assert "suppressed" in page and "reported as spam" in page
