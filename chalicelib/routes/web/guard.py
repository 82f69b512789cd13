"""The portal's page guard: who may see a page, and what the others get. Signed out, the browser goes to
sign in (and back); signed in but not as a customer (a release engineer, a support admin, a user not yet
linked to an account), a page that says so with a sign-out: sending them to sign in again would loop, as
the provider signs them straight back in. A POST needs this session's CSRF token before anything is read
or written; domain errors become a refusal page. Loaded with the routes: nothing here imports more."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote, urlencode

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.domain.core.errors import PatchcastError

Handler = Callable[..., Response]
TITLES = {403: "Not available to you", 404: "Not found", 410: "No longer available", 429: "Please wait",
          503: "Please try again shortly"}  # fmt: skip


def refusal(err: PatchcastError, **ctx: Any) -> Response:
    from chalicelib.routes.web import pages

    return pages.render("refusal.html", status=err.status, title=TITLES.get(err.status, "Sorry"), message=err.message,
                        hint=err.hint, action=err.action, **ctx)  # fmt: skip


def _to_sign_in(bp: Blueprint, *, post: bool) -> Response:
    from chalicelib.routes.web import pages, session

    request = bp.current_request
    here = request.path.format(**(request.uri_params or {}))
    here += "?" + urlencode(dict(request.query_params)) if request.query_params else ""
    back = here if not post else "/portal"
    return pages.redirect(f"{wiring.get().settings.public_base_url}/portal/signin?next={quote(back, safe='/')}",
                          cookies=[session.set_cookie(session.SESSION, "", 0)])  # fmt: skip


def _no_account(ctx: dict[str, Any]) -> Response:
    from chalicelib.routes.web import pages

    return pages.render("no_account.html", status=403, title="No customer account",
                        message="You are signed in, but not as a customer contact of an account.",
                        **{**ctx, "who": None})  # fmt: skip


def page_guard(bp: Blueprint) -> Callable[..., Callable[[Handler], Handler]]:
    """``page(post=False, customer=True)`` for the routes of ``bp``; ``customer=False`` serves anyone signed
    in (sign-out)."""

    def page(*, post: bool = False, customer: bool = True) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            @wraps(fn)
            def wrapper(*args: Any, **params: Any) -> Response:
                from chalicelib.routes.web import server_session, session

                request = bp.current_request
                try:
                    current = server_session.signed_in(request)
                except PatchcastError as err:  # the provider out of reach: a page, and the session kept
                    return refusal(err)
                if current is None:
                    return _to_sign_in(bp, post=post)
                who, session_id = current
                ctx = {"who": who, "csrf": session.csrf_token(session_id)}
                try:
                    form = session.form_of(request) if post else {}
                    if post:
                        session.check_csrf(form, session_id)
                    if customer and not who.is_customer:
                        return _no_account(ctx)
                    return fn(*args, **params, who=who, ctx=ctx, **({"form": form} if post else {}))
                except PatchcastError as err:
                    return refusal(err, **ctx)

            return wrapper

        return decorate

    return page
