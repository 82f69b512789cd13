"""HTTP edges: the one place domain errors become status codes and JSON or HTML bodies."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from chalice import Response  # type: ignore[attr-defined]
from chalice.app import Request

from chalicelib.domain.access.auth import Identity
from chalicelib.domain.core.errors import AlreadySubscribed, InvalidFields, PatchcastError, RateLimited, Unauthorized

F = TypeVar("F", bound=Callable[..., Any])
# The portal's stylesheet is the one style any page loads (``style-src 'self'``): no inline style, no script.
# base-uri: default-src does not cover it, and an injected <base> would move every relative link and form.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _InternalError(PatchcastError):
    code = "internal_error"
    status = 500


_INTERNAL = _InternalError("Something went wrong on our side; it has been logged.")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    merged: dict[str, Any] = {"Content-Type": "application/json", **_SECURITY_HEADERS, **(headers or {})}
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status, headers=merged)


def html_response(title: str, inner_html: str, status: int = 200) -> Response:
    from chalicelib.adapters import settings

    portal = html.escape(settings.get().public_base_url + "/portal", quote=True)
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<link rel='stylesheet' href='{portal}/static/style.css'><title>{html.escape(title)}</title></head>"
        f"<body><header><a href='{portal}'>Patchcast customer portal</a></header>"
        f"<main><h1>{html.escape(title)}</h1>{inner_html}</main></body></html>"
    )
    headers: dict[str, Any] = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": PAGE_CSP,
        "X-Frame-Options": "DENY",
        **_SECURITY_HEADERS,
    }
    return Response(body=page, status_code=status, headers=headers)


def header(request: Request, name: str) -> str:
    headers: Any = request.headers or {}
    return str(headers.get(name.lower(), ""))


def query_param(request: Request, name: str) -> str:
    params: Any = request.query_params or {}
    return str(params.get(name, ""))


def source_ip(request: Request) -> str:
    ctx: Any = request.context or {}
    return str(ctx.get("identity", {}).get("sourceIp", ""))


def wants_json(request: Request) -> bool:
    return "application/json" in header(request, "accept")


def error_response(err: PatchcastError, request: Request | None = None, *, page: bool = False) -> Response:
    if page and request is not None and not wants_json(request):
        return html_response(_TITLES.get(err.status, "Sorry"), _refusal_html(err), err.status)
    body: dict[str, Any] = {"error": err.code, "message": err.message}
    if isinstance(err, AlreadySubscribed):
        body["id"] = err.subscription_id  # the subscription to PATCH instead
    if isinstance(err, InvalidFields):
        body["fields"] = err.fields
    if err.hint:
        body["hint"] = err.hint
    if err.action:
        body["action"] = {"method": err.action.method, "href": err.action.href, "label": err.action.label}
    if isinstance(err, RateLimited):
        body["retry_after"] = err.retry_after
        return json_response(body, err.status, headers={"Retry-After": str(err.retry_after)})
    return json_response(body, err.status)


_TITLES = {403: "Not available to you", 404: "Link not found", 410: "No longer available", 429: "Please wait"}


def _refusal_html(err: PatchcastError) -> str:
    e = html.escape
    parts = [f"<p>{e(err.message)}</p>"]
    if err.hint:
        parts.append(f"<p>{e(err.hint)}</p>")
    if err.action and err.action.method == "GET":
        parts.append(f"<p><a href='{e(err.action.href, quote=True)}'>{e(err.action.label)}</a></p>")
    elif err.action:
        parts.append(
            f"<form method='post' action='{e(err.action.href, quote=True)}'>"
            f"<button type='submit'>{e(err.action.label)}</button></form>"
        )
    return "".join(parts)


def body_of(request: Request) -> dict[str, Any]:
    from chalicelib.domain.core.validation import parse_json_object

    return parse_json_object(request.raw_body)


def identity_of(request: Request) -> Identity:
    ctx = (request.context or {}).get("authorizer") or {}
    if ctx.get("auth_error") or not ctx.get("sub"):
        raise Unauthorized(str(ctx.get("auth_error") or "A valid bearer token is required."))
    return Identity.from_context(ctx)


# Chalice answers some requests itself, before or after a route, as {"Code", "Message"}: these are
# its codes in ours. (API Gateway's own answers are listed in docs/deploy.md.)
_CHALICE_CODES = {
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "BadRequest": "bad_request",
    "BadRequestError": "bad_request",
    "InternalServerError": _INTERNAL.code,
}


def our_error_shape(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """HTTP middleware: every error body the app gives is ``{"error", "message"}``, Chalice's own included."""
    try:
        response = get_response(event)
    except Exception:  # would reach Chalice's handler, which answers in its own shape
        from chalicelib.observability import logger

        logger.exception("unhandled error around a route")
        return error_response(_INTERNAL)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = _CHALICE_CODES.get(str(body["Code"]), "error")
        if code == _INTERNAL.code:
            return error_response(_INTERNAL)
        ours = json_response({"error": code, "message": str(body["Message"])}, response.status_code)
        ours.headers = {**response.headers, **ours.headers}  # keeps Allow on a 405
        return ours
    return response


def handled(app: Any, *, page: bool = False) -> Callable[[F], F]:
    """Route wrapper: domain errors become their status; anything else a 500 that leaks nothing."""

    def decorate(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except PatchcastError as err:
                return error_response(err, app.current_request, page=page)
            except Exception:
                from chalicelib.observability import logger

                logger.exception("unhandled error in route")
                return error_response(_INTERNAL, app.current_request, page=page)

        return wrapper  # type: ignore[return-value]

    return decorate
