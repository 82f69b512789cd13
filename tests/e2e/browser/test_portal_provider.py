"""The portal's sign-in as it runs on AWS, in Chromium, against a certified OpenID provider configured as the
user pool's managed login is (tests/e2e/browser/oidc/cognito_like.mjs): the app's provider path runs (the
authorize redirect, ``_cognito_token``'s code exchange with the PKCE verifier, the refresh grant, sign-out
through the provider's ``/logout``, the pages' CSP naming the provider). Customers sign in and out; staff
and users without an account get a page, not a loop; expired and reused codes are refused."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from chalicelib.names import ResourceNames
from patchcast_tools.local.stack import LocalStack, free_port
from tests.conftest import unique
from tests.e2e.browser import provider

pytestmark = pytest.mark.e2e

PORT = free_port()
PROVIDER = f"http://127.0.0.1:{PORT}"
STACK_ENV = {"PATCHCAST_COGNITO_DOMAIN": PROVIDER}  # the stack's issuer and JWKS become the provider's
ACCOUNT = unique("oidc")
_VERIFIED = {"email_verified": True}
USERS: dict[str, dict[str, Any]] = {
    "customer": {"email": "ops@oidc.example", **_VERIFIED, "custom:account_id": ACCOUNT, "cognito:groups": []},
    "hasty": {
        "email": "hasty@oidc.example",
        **_VERIFIED,
        "custom:account_id": ACCOUNT,
        "cognito:groups": [],
        "code_seconds": 1,
    },  # fmt: skip
    "engineer": {
        "email": "rel@vendor.example",
        **_VERIFIED,
        "custom:account_id": ACCOUNT,
        "cognito:groups": ["release-engineers"],
    },  # fmt: skip
    "admin": {"email": "support@vendor.example", **_VERIFIED, "cognito:groups": ["support-admins"]},
    "unlinked": {"email": "new@oidc.example", **_VERIFIED, "cognito:groups": []},
}


@pytest.fixture(scope="module")
def idp(stack: LocalStack) -> Iterator[str]:
    with provider.running(stack, PORT, USERS) as url:
        admin = provider.token(stack, url, {"sub": "admin", "cognito:groups": ["support-admins"]})
        body = {"name": "OIDC & Co", "tier": "premium", "products": ["M3"], "support_start": "2026-01-01",
                "support_end": "2030-12-31"}  # fmt: skip
        resp = requests.put(f"{stack.api_url}/accounts/{ACCOUNT}", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
        assert resp.status_code == 200, resp.text
        yield url


def _log_in(page: Any, login: str) -> None:
    """The provider's sign-in form (its development interactions: any password)."""
    page.wait_for_url(f"{PROVIDER}/interaction/**")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("button[type=submit]")


def test_a_customer_signs_in_through_the_provider_and_out_through_its_logout(
    stack: LocalStack, idp: str, page: Any
) -> None:
    api = stack.api_url
    page.goto(f"{api}/portal/alerts")
    assert page.url.startswith(f"{PROVIDER}/")  # sent to the provider's authorize endpoint, then its login
    _log_in(page, "customer")
    page.wait_for_url(f"{api}/portal/alerts")
    assert page.get_by_role("heading", level=1).inner_text() == "Your alerts"
    csp = page.request.get(f"{api}/portal/signed-out").headers["content-security-policy"]
    assert f"form-action 'self' {PROVIDER}" in csp
    session = next(c for c in page.context.cookies() if c["name"] == "patchcast_session")
    # sign out: through the provider's /logout, back to the signed-out page
    page.get_by_role("button", name="Sign out ops@oidc.example").click()
    page.wait_for_url(f"{api}/portal/signed-out**")
    assert page.get_by_role("heading", level=1).inner_text() == "Signed out"
    # the provider's session ended too: the portal asks for a sign-in again, none happens by itself
    page.goto(f"{api}/portal")
    page.wait_for_url(f"{PROVIDER}/interaction/**")
    # and the old session cookie, put back, is worth nothing on the server
    page.context.add_cookies([session])
    page.goto(f"{api}/portal")
    page.wait_for_url(f"{PROVIDER}/interaction/**")


@pytest.mark.parametrize("login", ["engineer", "admin", "unlinked"])
def test_staff_and_users_without_an_account_get_a_page_not_a_loop(
    stack: LocalStack, idp: str, page: Any, login: str
) -> None:
    api = stack.api_url
    page.goto(f"{api}/portal")
    _log_in(page, login)
    page.wait_for_url(f"{api}/portal")
    assert page.get_by_role("heading", level=1).inner_text() == "No customer account"
    page.get_by_role("button", name="Sign out and sign in as someone else").click()
    page.wait_for_url(f"{api}/portal/signed-out**")
    assert page.get_by_role("heading", level=1).inner_text() == "Signed out"


def _code_held(page: Any, login: str) -> str:
    """Sign in at the provider, but stop before the browser goes back to the portal: the callback URL with
    the code. (The provider's redirects are followed by the browser, where no route can stop them: the
    sign-in form is posted with the browser context's own requests, cookies shared, redirects not followed.)"""
    page.wait_for_url(f"{PROVIDER}/interaction/**")
    action = page.locator("form").first.get_attribute("action")
    form = {"prompt": "login", "login": login, "password": "correct horse battery staple"}
    resumed = page.request.post(_absolute(str(action)), form=form, max_redirects=0)
    assert resumed.status in (302, 303), resumed.status
    back = page.request.get(_absolute(resumed.headers["location"]), max_redirects=0)
    assert back.status in (302, 303) and "/portal/callback?" in back.headers["location"], back.headers
    return _absolute(back.headers["location"])


def _absolute(location: str) -> str:
    return location if location.startswith("http") else f"{PROVIDER}{location}"


def test_an_expired_code_is_refused(stack: LocalStack, idp: str, page: Any) -> None:
    page.goto(f"{stack.api_url}/portal")
    callback = _code_held(page, "hasty")  # this user's codes live one second
    time.sleep(2.5)
    resp = page.goto(callback)
    assert resp.status == 400 and page.get_by_role("heading", level=1).inner_text() == "Sign-in failed"


def test_a_reused_code_is_refused(stack: LocalStack, idp: str, page: Any) -> None:
    page.goto(f"{stack.api_url}/portal")
    callback = _code_held(page, "customer")
    pending = next(c for c in page.context.cookies() if c["name"] == "patchcast_signin")
    first = page.goto(callback)
    assert first.status == 200 and page.url == f"{stack.api_url}/portal"
    page.context.add_cookies([pending])  # the same sign-in again, with the code already used
    again = page.goto(callback)
    assert again.status == 400 and page.get_by_role("heading", level=1).inner_text() == "Sign-in failed"


def test_a_session_whose_id_token_expired_is_renewed_through_the_provider(
    stack: LocalStack, idp: str, page: Any
) -> None:
    api = stack.api_url
    page.goto(f"{api}/portal/alerts")
    _log_in(page, "customer")
    page.wait_for_url(f"{api}/portal/alerts")
    session = next(c for c in page.context.cookies() if c["name"] == "patchcast_session")["value"]
    db = boto3.client("dynamodb", endpoint_url=stack.aws_url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")  # fmt: skip
    key = {"PK": {"S": f"SESSION#{hashlib.sha256(session.encode()).hexdigest()}"}, "SK": {"S": "SESSION"}}
    table = ResourceNames(stage="local").table
    # minute 61: the session's ID token has expired
    expired = provider.token(stack, idp, {"sub": "customer", "exp": int(time.time()) - 120, **USERS["customer"]})
    db.update_item(TableName=table, Key=key, UpdateExpression="SET id_token = :t",
                   ExpressionAttributeValues={":t": {"S": expired}})  # fmt: skip
    page.reload()
    assert page.url == f"{api}/portal/alerts" and page.get_by_role("heading", level=1).inner_text() == "Your alerts"
    renewed = db.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["id_token"]["S"]
    assert renewed != expired
