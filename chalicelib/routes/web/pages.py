"""The portal's pages: Jinja2 templates (autoescape on, so every text a page shows is escaped) rendered
into a response with the portal's security headers. Jinja2 loads on the first page, never at cold start."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalice import Response  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.routes.http import PAGE_CSP

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLESHEET = TEMPLATES / "style.css"
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY"}  # fmt: skip


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name: user text is never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = human_size
    return env


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def render(template: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Response:
    base = wiring.get().settings.public_base_url
    body = environment().get_template(template).render(portal=f"{base}/portal", **context)
    merged = {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": _csp(), **_HEADERS}
    return Response(body=body, status_code=status, headers={**merged, **(headers or {})})


def _csp() -> str:
    # A sign-out form's redirect to Cognito's logout endpoint is a form navigation too: allow that origin.
    domain = wiring.get().settings.cognito_domain
    return PAGE_CSP.replace("form-action 'self'", f"form-action 'self' {domain}") if domain else PAGE_CSP


def redirect(location: str, *, cookies: list[str] | None = None, status: int = 302) -> Response:
    headers: dict[str, Any] = {"Location": location, **_HEADERS}
    if cookies:
        # Chalice sends a list header value as repeated headers (API Gateway's multiValueHeaders)
        headers["Set-Cookie"] = cookies if len(cookies) > 1 else cookies[0]
    return Response(body="", status_code=status, headers=headers)


def stylesheet() -> Response:
    return Response(
        body=STYLESHEET.read_text(),
        status_code=200,
        headers={
            "Content-Type": "text/css; charset=utf-8",
            "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        },
    )
