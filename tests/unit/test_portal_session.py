"""The portal's pure pieces: where ``next=`` may lead, and the local ID token's claims matching patchctl's."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from chalicelib.routes.web.local_issuer import id_token_claims
from chalicelib.routes.web.session import safe_next
from patchcast_tools.local import issuer


@pytest.mark.parametrize("evil", ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)",
                                  "/portal//evil.example", "/portal\\@evil.example", "/portalx:y", "", None,
                                  "/portal\r\nLocation: x", "http:/portal",
                                  # the same host, outside the portal (issue 27 item 6)
                                  "/portal/../../d/x", "/portal/..", "/portal/./../d", "/portalx", "/portal-x",
                                  "/portal/%2e%2e/d/x", "/portal/%2E%2E/d", "/portal/..%2fd",
                                  # outside Latin-1 (and outside ASCII): a Location cannot carry them
                                  "/portal/\u2603", "/portal?next=\u20ac", "/portal/\xe9", "/portal\x7f"])  # fmt: skip
def test_next_only_leads_to_the_portals_own_paths(evil: str | None) -> None:
    assert safe_next(evil) == "/portal"


@pytest.mark.parametrize("good", ["/portal", "/portal/alerts", "/portal/fixes?product=M3&kind=patch",
                                  "/portal/fixes?kind=%C3%A9", "/portal/fixes/r-1.2/download"])  # fmt: skip
def test_next_keeps_a_portal_path(good: str) -> None:
    assert safe_next(good) == good


def test_the_local_sign_in_mints_the_claims_patchctl_token_mints(tmp_path: Path) -> None:
    issuer.ensure_keys(tmp_path)
    minted = jwt.decode(
        issuer.mint(tmp_path, role="customer", account="acme", email="ops@acme.example"),
        options={"verify_signature": False},
    )
    ours = id_token_claims(
        issuer=issuer.ISSUER,
        audience=issuer.AUDIENCE,
        role="customer",
        account="acme",
        email="ops@acme.example",
        seconds=issuer.lifetime_seconds(),
    )
    timeless = lambda c: {k: v for k, v in c.items() if k not in ("iat", "nbf", "exp")}  # noqa: E731
    assert timeless(minted) == timeless(ours) and minted["exp"] - minted["iat"] == ours["exp"] - ours["iat"]


@pytest.mark.parametrize(
    ("base", "secure"),
    [("http://127.0.0.1:8000", False), ("http://localhost:8000", False), ("https://api.example.com/api", True),
     ("http://intranet.example", True)],
)  # fmt: skip
def test_the_session_cookie_is_secure_except_on_plain_http_localhost(base: str, secure: bool) -> None:
    import dataclasses

    from chalicelib.adapters import settings, wiring
    from chalicelib.routes.web import session

    env = {
        "PATCHCAST_SENDER": "a@b.test",
        "PATCHCAST_PUBLIC_URL": base,
        "PATCHCAST_JWT_ISSUER": "i",
        "PATCHCAST_JWT_AUDIENCE": "a",
        "PATCHCAST_JWKS_URL": "file:///x",
    }
    before = wiring._current
    wiring.use(wiring.Wiring(dataclasses.replace(settings.from_env(env))))
    try:
        cookie = session.set_cookie(session.SESSION, "v", 60)
    finally:
        wiring.use(before)
    assert ("; Secure" in cookie) is secure and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert (
        f"Path={base.split('//', 1)[1].partition('/')[2] and '/' + base.split('//', 1)[1].partition('/')[2]}/portal"
        in cookie
    )


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_stylesheets_text_colours_have_a_contrast_of_at_least_4_5_to_1() -> None:
    import re

    from chalicelib.routes.web.pages import STYLESHEET

    css = STYLESHEET.read_text()
    var = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css))
    pairs = [
        ("ink", "bg"),
        ("muted", "bg"),
        ("accent", "bg"),
        ("accent-ink", "accent"),
        ("danger", "bg"),
        ("ok", "panel"),
        ("warn", "panel"),
        ("danger", "panel"),
        ("ink", "panel"),
        ("accent", "panel"),
    ]
    low = {
        f"{fg} on {bg}": round(_contrast(var[fg], var[bg]), 2) for fg, bg in pairs if _contrast(var[fg], var[bg]) < 4.5
    }
    assert low == {}


def _with_provider(domain: str) -> object:
    import dataclasses

    from chalicelib.adapters import settings, wiring

    env = {"PATCHCAST_SENDER": "a@b.test", "PATCHCAST_PUBLIC_URL": "https://api.example.com/api",
           "PATCHCAST_JWT_ISSUER": "i", "PATCHCAST_JWT_AUDIENCE": "client-1", "PATCHCAST_JWKS_URL": "file:///x",
           "PATCHCAST_STAGE": "prod", "PATCHCAST_COGNITO_DOMAIN": domain}  # fmt: skip
    before = wiring._current
    wiring.use(wiring.Wiring(dataclasses.replace(settings.from_env(env))))
    return before


def test_in_aws_sign_out_goes_through_the_providers_logout_and_its_domain_is_in_the_csp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from urllib.parse import parse_qs, urlsplit

    from chalicelib.adapters import wiring
    from chalicelib.routes.web import pages, session, signin

    monkeypatch.setattr(session, "pack_signin", lambda *a: "cookie")  # its MAC key is in Secrets Manager

    domain = "https://patchcast-prod-1.auth.eu-west-1.amazoncognito.com"
    before = _with_provider(domain)
    try:
        out, csp, start = signin.signout_url(), pages._csp(), signin.begin("/portal/fixes")[0]
    finally:
        wiring.use(before)  # type: ignore[arg-type]
    parts = urlsplit(out)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{domain}/logout"
    assert parse_qs(parts.query) == {
        "client_id": ["client-1"],
        "logout_uri": ["https://api.example.com/api/portal/signed-out"],
    }
    assert f"form-action 'self' {domain}" in csp
    assert start.startswith(f"{domain}/oauth2/authorize?") and "code_challenge_method=S256" in start


@pytest.mark.parametrize(("status", "error"), [(400, "invalid_grant"), (None, "service_unavailable")])
def test_the_token_endpoint_refusing_is_a_400_and_out_of_reach_a_503(status: int | None, error: str) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from chalicelib.adapters import wiring
    from chalicelib.domain.core.errors import PatchcastError
    from chalicelib.routes.web import signin

    class Refusing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.send_response(status or 500)
            self.end_headers()
            self.wfile.write(b'{"error":"invalid_grant"}')

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Refusing)
    port = server.server_address[1]
    if status is None:
        server.server_close()  # nothing listens there any more
    else:
        threading.Thread(target=server.handle_request, daemon=True).start()
    before = _with_provider(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(PatchcastError) as raised:
            signin._token_endpoint({"grant_type": "refresh_token"}, "refused")
    finally:
        wiring.use(before)  # type: ignore[arg-type]
        if status is not None:
            server.server_close()
    assert raised.value.code == error and raised.value.status == (400 if status else 503)
