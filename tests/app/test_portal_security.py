"""The portal against a hostile or unlucky user (issue 27 items 1, 6, 7, 10, 11; issue 32's survivors in
routes/web): users who are not customers get a page, not a loop; sessions end on the server at sign-out and
outlive their ID token; a code works once and expires; only a verified address is anyone's address."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import jwt
import pytest
from chalice.test import Client

from chalicelib.routes.web import local_issuer, server_session, session
from tests.app.flows import emails_to
from tests.app.test_portal import FORM, _cookie, _csrf, _customer, _get, _path, _post, _sign_in
from tests.conftest import STATE, auth, token, unique


def _staff_or_unlinked(kind: str) -> str:
    """An ID token as the user pool would sign it for a user who is no customer."""
    groups = {"engineer": ["release-engineers"], "admin": ["support-admins"], "unlinked": []}[kind]
    claims = local_issuer.id_token_claims(issuer="patchcast-local", audience="patchcast", role="customer",
                                          account="acme" if kind != "unlinked" else None,
                                          email=f"{kind}@vendor.example", seconds=600)  # fmt: skip
    claims["cognito:groups"] = groups
    return jwt.encode(claims, (STATE / "issuer" / "private.pem").read_bytes(), algorithm="RS256",
                      headers={"kid": "local-1"})  # fmt: skip


# -- item 1: no loop for users without a customer account -------------------------------------------
@pytest.mark.parametrize("kind", ["engineer", "admin", "unlinked"])
@pytest.mark.parametrize("path", ["/portal", "/portal/alerts", "/portal/fixes"])
def test_a_user_who_is_no_customer_gets_a_page_saying_why_and_a_sign_out_not_a_redirect(
    app_client: Client, kind: str, path: str
) -> None:
    sid = server_session.open_session(_staff_or_unlinked(kind), "")
    page = _get(app_client, path, sid)
    body = page.body.decode()
    assert page.status_code == 403 and "Location" not in page.headers, page.headers
    assert "No customer account" in body and "not linked to a customer account" in body
    assert "Set-Cookie" not in page.headers  # the session is kept: it is what signs out
    out = _post(app_client, "/portal/signout", sid, {"csrf": _csrf(page)})
    assert out.status_code == 302 and _path(out.headers["Location"]) == "/portal/signed-out"


def test_a_staff_token_with_an_account_id_is_not_that_accounts_customer_in_the_api(app_client: Client) -> None:
    staff = {"Authorization": f"Bearer {_staff_or_unlinked('admin')}"}
    resp = app_client.http.get("/catalog", headers=staff)
    assert resp.status_code == 403 and json.loads(resp.body)["error"] == "forbidden", resp.body
    assert app_client.http.get("/subscriptions", headers=staff).status_code == 403


# -- item 7: sessions end on the server, and outlive their ID token ---------------------------------
def test_signing_out_ends_the_session_on_the_server(app_client: Client, provisioned: str) -> None:
    account, product = _customer(app_client)
    sid, _ = _sign_in(app_client, account, "ops@customer.example")
    csrf = _csrf(_get(app_client, "/portal/alerts", sid))
    assert _post(app_client, "/portal/signout", sid, {"csrf": csrf}).status_code == 302
    # the old cookie and its CSRF token, replayed: signed out, nothing written
    again = _get(app_client, "/portal/alerts", sid)
    assert again.status_code == 302 and "/portal/signin" in again.headers["Location"]
    address = f"{unique('gone')}@customer.example"
    form = {"csrf": csrf, "email": address, "products": product, "kinds": "patch", "max_severity": "3"}
    late = _post(app_client, "/portal/alerts", sid, form)
    assert late.status_code == 302 and "/portal/signin" in late.headers["Location"]
    mine = json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)
    assert mine["subscriptions"] == [] and emails_to(provisioned, address) == []


def test_a_form_posted_after_the_id_token_expired_is_kept_the_server_renews_the_token(
    app_client: Client, wired: Any
) -> None:
    account, product = _customer(app_client)
    sid, _ = _sign_in(app_client, account, "ops@customer.example")
    csrf = _csrf(_get(app_client, "/portal/alerts", sid))
    # minute 61: the session's ID token has expired (its refresh token has not)
    held = wired.table.get_session(server_session._hash(sid))
    expired = token("customer", account, "ops@customer.example", hours=-1)
    wired.table.put_session(server_session._hash(sid), id_token=expired, refresh_token=held["refresh_token"],
                            expires_at=int(held["expires_at"]))  # fmt: skip
    address = f"{unique('late')}@customer.example"
    form = {"csrf": csrf, "email": address, "products": product, "kinds": "patch", "max_severity": "3"}
    resp = _post(app_client, "/portal/alerts", sid, form)
    assert resp.status_code == 303 and _path(resp.headers["Location"]) == "/portal/alerts?done=created"
    renewed = wired.table.get_session(server_session._hash(sid))["id_token"]
    assert (
        renewed != expired and jwt.decode(renewed, options={"verify_signature": False})["custom:account_id"] == account
    )


def test_a_session_whose_token_cannot_be_renewed_is_over(app_client: Client, wired: Any) -> None:
    expired = token("customer", "acme", "ops@acme.example", hours=-1)
    for refresh in ("", "forged.refresh"):
        sid = server_session.open_session(expired, refresh)
        resp = _get(app_client, "/portal", sid)
        assert resp.status_code == 302 and "/portal/signin" in resp.headers["Location"]
        assert wired.table.get_session(server_session._hash(sid)) is None


def test_a_session_past_its_lifetime_is_over(app_client: Client, wired: Any) -> None:
    sid = server_session.open_session(token("customer", "acme", "ops@acme.example"), "")
    held = wired.table.get_session(server_session._hash(sid))
    wired.table.put_session(server_session._hash(sid), id_token=held["id_token"], refresh_token="",
                            expires_at=int(held["expires_at"]) - server_session.SESSION_SECONDS - 1)  # fmt: skip
    assert _get(app_client, "/portal", sid).status_code == 302


@pytest.mark.parametrize("cookie", ["", "x" * 19, "x" * 65, "é" * 30, "a.b.c"])
def test_a_cookie_that_names_no_session_is_signed_out(app_client: Client, cookie: str) -> None:
    resp = app_client.http.get("/portal", headers={"Cookie": f"patchcast_session={cookie}"})
    assert resp.status_code == 302 and "/portal/signin" in resp.headers["Location"]


# -- item 10 and the survivors: codes used once, codes and sign-ins that expire ----------------------
def _code_and_pending(client: Client, account: str = "acme") -> tuple[str, str, str]:
    start = client.http.get("/portal/signin")
    pending = _cookie(start, "patchcast_signin").split(";")[0]
    issued = client.http.post(
        _path(start.headers["Location"]), headers=FORM, body=urlencode({"account": account, "email": "o@a.example"})
    )
    q = parse_qs(urlsplit(issued.headers["Location"]).query)
    return q["code"][0], q["state"][0], pending


def _callback(client: Client, code: str, state: str, pending: str) -> Any:
    return client.http.get(f"/portal/callback?{urlencode({'code': code, 'state': state})}", headers={"Cookie": pending})


def test_a_local_code_is_single_use(app_client: Client) -> None:
    code, state, pending = _code_and_pending(app_client)
    assert _callback(app_client, code, state, pending).status_code == 302
    replay = _callback(app_client, code, state, pending)  # the same browser's sign-in cookie, the same code
    assert replay.status_code == 400 and "Set-Cookie" not in replay.headers
    assert "not valid" in replay.body.decode()


def test_an_expired_local_code_is_refused(app_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_issuer, "CODE_SECONDS", -5)  # issued five seconds past its minute
    code, state, pending = _code_and_pending(app_client)
    resp = _callback(app_client, code, state, pending)
    assert resp.status_code == 400 and "Set-Cookie" not in resp.headers


def test_a_sign_in_cookie_older_than_ten_minutes_is_refused(
    app_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "SIGNIN_SECONDS", -5)  # the sign-in began ten minutes and five seconds ago
    code, state, pending = _code_and_pending(app_client)
    monkeypatch.undo()
    resp = _callback(app_client, code, state, pending)
    assert resp.status_code == 400 and "expired" in resp.body.decode()


def test_the_sign_in_cookie_lasts_ten_minutes() -> None:
    assert session.SIGNIN_SECONDS == 600 and local_issuer.CODE_SECONDS == 60


# -- item 6's portal parts -----------------------------------------------------------------------
@pytest.mark.parametrize("with_csrf", [True, False])
def test_a_form_of_more_than_200_fields_is_400_and_writes_nothing(
    app_client: Client, provisioned: str, with_csrf: bool
) -> None:
    account, product = _customer(app_client)
    customer = token("customer", account, "ops@customer.example")
    address = f"{unique('many')}@customer.example"
    form: dict[str, Any] = {"email": address, "products": product, "kinds": "patch", "max_severity": "3"}
    if with_csrf:
        form["csrf"] = _csrf(_get(app_client, "/portal/alerts", customer))
    form.update({f"f{n}": "x" for n in range(200)})
    resp = _post(app_client, "/portal/alerts", customer, form)
    assert resp.status_code == 400 and "at most 200 fields" in resp.body.decode(), resp.status_code
    mine = json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)
    assert mine["subscriptions"] == [] and emails_to(provisioned, address) == []


def test_a_csrf_token_outside_ascii_is_403_not_500(app_client: Client) -> None:
    customer = token("customer", "acme", "ops@acme.example")
    assert _post(app_client, "/portal/signout", customer, {"csrf": "é" * 40}).status_code == 403


@pytest.mark.parametrize("next_path", ["/portal/../../d/x", "/portalx", "/portal/%2e%2e/d", "/portal/\u20ac",
                                       "/portal?x=\u2603", "/portal/fixes\u0100"])  # fmt: skip
def test_next_outside_the_portal_or_latin_1_lands_home_in_one_piece(app_client: Client, next_path: str) -> None:
    start = app_client.http.get(f"/portal/signin?next={quote(next_path, safe='')}")
    assert start.status_code == 302
    code, state, pending = _code_and_pending_from(app_client, start)
    done = _callback(app_client, code, state, pending)
    assert done.status_code == 302 and _path(done.headers["Location"]) == "/portal"
    assert done.headers["Location"].isascii()


def _code_and_pending_from(client: Client, start: Any) -> tuple[str, str, str]:
    pending = _cookie(start, "patchcast_signin").split(";")[0]
    issued = client.http.post(
        _path(start.headers["Location"]), headers=FORM, body=urlencode({"account": "acme", "email": "o@a.example"})
    )
    q = parse_qs(urlsplit(issued.headers["Location"]).query)
    return q["code"][0], q["state"][0], pending


# -- the pages' headers ----------------------------------------------------------------------------
def test_every_page_and_redirect_is_no_store_unframeable_and_nosniff(app_client: Client) -> None:
    customer = token("customer", "acme", "ops@acme.example")
    answers = [_get(app_client, "/portal", customer), app_client.http.get("/portal/signed-out"),
               app_client.http.get("/portal"), app_client.http.get("/portal/signin")]  # fmt: skip
    for resp in answers:
        assert resp.headers["Cache-Control"] == "no-store", resp.headers
        assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["X-Content-Type-Options"] == "nosniff"


# -- item 11: only a verified address ------------------------------------------------------------
def test_an_unverified_email_claim_never_becomes_lifted_by(app_client: Client, table: Any) -> None:
    address = f"{unique('unv')}@customer.example"
    table.suppress_address(address, reason="bounce", detail="x", feedback_id=unique("f"))
    claims = jwt.decode(token("support-admin", email="boss@vendor.example"), options={"verify_signature": False})
    claims["email_verified"] = False
    unverified = jwt.encode(claims, (STATE / "issuer" / "private.pem").read_bytes(), algorithm="RS256",
                            headers={"kid": "local-1"})  # fmt: skip
    resp = app_client.http.delete(f"/suppressions/{address}", headers={"Authorization": f"Bearer {unverified}"})
    assert resp.status_code == 200, resp.body
    assert json.loads(resp.body)["lifted_by"] == claims["sub"]


# -- what an attacker or an outage may do to a sign-in --------------------------------------------
def test_a_forged_sign_in_cookie_is_refused_even_with_a_matching_state(app_client: Client) -> None:
    """An attacker's own state and verifier, paired with a code they hold, in a cookie they made: the MAC fails."""
    import base64
    import hashlib

    verifier = "attacker-chosen-verifier-" + "x" * 30
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = local_issuer.issue_code(account="acme", email="ops@acme.example", challenge=challenge)
    genuine = session.pack_signin("s1", verifier, "/portal")
    body = base64.urlsafe_b64encode(json.dumps({"s": "s1", "v": verifier, "n": "/portal", "x": 2**40}).encode())
    forged = body.rstrip(b"=").decode() + "." + genuine.split(".")[1]
    resp = _callback(app_client, code, "s1", f"patchcast_signin={forged}")
    assert resp.status_code == 400 and "Set-Cookie" not in resp.headers


def test_a_local_code_is_no_refresh_token_nor_a_refresh_token_a_code(app_client: Client) -> None:
    from chalicelib.domain.core.errors import BadRequest

    code = local_issuer.issue_code(account="acme", email="ops@acme.example", challenge="c")
    with pytest.raises(BadRequest):
        local_issuer.refresh(code)
    refresh = local_issuer._pack({"a": "acme", "e": "ops@acme.example", "c": "c", "i": "x", "x": 2**40},
                                 local_issuer.REFRESH)  # fmt: skip
    with pytest.raises(BadRequest):
        local_issuer.exchange(refresh, "anything")


def test_the_provider_out_of_reach_is_a_503_and_keeps_the_session(
    app_client: Client, wired: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.domain.core.errors import ServiceUnavailable
    from chalicelib.routes.web import signin

    def unreachable(_: str) -> str:
        raise ServiceUnavailable("Sign-in is unavailable just now; please try again in a minute.")

    sid = server_session.open_session(token("customer", "acme", "ops@acme.example", hours=-1), "some-refresh-token")
    monkeypatch.setattr(signin, "refresh", unreachable)
    resp = _get(app_client, "/portal", sid)
    assert resp.status_code == 503, resp.status_code
    assert wired.table.get_session(server_session._hash(sid)) is not None  # tried again on the next request


@pytest.mark.parametrize("severity", ["\u00b2", "\u0663", "\uff13"])  # superscript two, Arabic-Indic three, fullwidth 3
def test_a_max_severity_of_unicode_digits_is_400_not_500(app_client: Client, provisioned: str, severity: str) -> None:
    account, product = _customer(app_client)
    customer = token("customer", account, "ops@customer.example")
    address = f"{unique('uni')}@customer.example"
    form = {"email": address, "products": product, "kinds": "patch", "max_severity": severity}
    resp = _post(
        app_client, "/portal/alerts", customer, {**form, "csrf": _csrf(_get(app_client, "/portal/alerts", customer))}
    )
    assert resp.status_code == 400 and "max_severity" in resp.body.decode(), resp.status_code
    assert emails_to(provisioned, address) == []


@pytest.mark.parametrize(("role", "account"), [("release-engineer", "acme"), ("support-admin", ""), ("customer", "")])
def test_the_local_sign_in_signs_in_staff_and_unlinked_users_who_get_the_no_account_page(
    app_client: Client, role: str, account: str
) -> None:
    start = app_client.http.get("/portal/signin")
    pending = _cookie(start, "patchcast_signin").split(";")[0]
    form = {"account": account, "email": "someone@vendor.example", "role": role}
    issued = app_client.http.post(_path(start.headers["Location"]), headers=FORM, body=urlencode(form))
    assert issued.status_code == 303, issued.body
    q = parse_qs(urlsplit(issued.headers["Location"]).query)
    done = _callback(app_client, q["code"][0], q["state"][0], pending)
    assert done.status_code == 302 and _path(done.headers["Location"]) == "/portal"
    sid = _cookie(done, "patchcast_session").split(";")[0].split("=", 1)[1]
    page = _get(app_client, "/portal", sid)
    assert page.status_code == 403 and "No customer account" in page.body.decode()


def test_the_local_sign_in_refuses_a_role_it_does_not_know(app_client: Client) -> None:
    start = app_client.http.get("/portal/signin")
    form = {"account": "acme", "email": "someone@vendor.example", "role": "root"}
    resp = app_client.http.post(_path(start.headers["Location"]), headers=FORM, body=urlencode(form))
    assert resp.status_code == 400 and "Location" not in resp.headers
