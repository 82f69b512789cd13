"""The portal's sign-in (the authorization code flow's start and callback), sign-out, the signed-out page
and the stylesheet every page shares."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib.domain.core.errors import PatchcastError
from chalicelib.routes.http import query_param
from chalicelib.routes.portal import FORM, base, page

bp = Blueprint(__name__)


# -- sign-in and sign-out ---------------------------------------------------------------------------
@bp.route("/portal/signin", methods=["GET"])
def signin() -> Response:
    from chalicelib.routes.web import pages, session, signin

    url, pending = signin.begin(query_param(bp.current_request, "next"))
    return pages.redirect(url, cookies=[session.set_cookie(session.SIGNIN, pending, session.SIGNIN_SECONDS)])


@bp.route("/portal/callback", methods=["GET"])
def callback() -> Response:
    from chalicelib.routes.web import pages, server_session, session, signin

    request = bp.current_request
    try:
        id_token, refresh_token, next_path = signin.finish(
            session.cookies(request).get(session.SIGNIN), query_param(request, "state"), query_param(request, "code")
        )
    except PatchcastError as err:
        return pages.render("signed_out.html", status=err.status, title="Sign-in failed", message=err.message)
    opened = server_session.open_session(id_token, refresh_token)
    cookies = [session.set_cookie(session.SESSION, opened, server_session.SESSION_SECONDS),
               session.set_cookie(session.SIGNIN, "", 0)]  # fmt: skip
    return pages.redirect(base() + session.safe_next(next_path), cookies=cookies)


@bp.route("/portal/signout", methods=["POST"], content_types=FORM)
@page(post=True, customer=False)
def signout(*, who: Any, ctx: dict[str, Any], form: dict[str, list[str]]) -> Response:
    from chalicelib.routes.web import pages, server_session, session, signin

    server_session.close(bp.current_request)
    return pages.redirect(signin.signout_url(), cookies=[session.set_cookie(session.SESSION, "", 0)])


@bp.route("/portal/signed-out", methods=["GET"])
def signed_out() -> Response:
    from chalicelib.routes.web import pages

    return pages.render("signed_out.html", title="Signed out", message="You are signed out of the Patchcast portal.")


@bp.route("/portal/static/style.css", methods=["GET"])
def stylesheet() -> Response:
    from chalicelib.routes.web import pages

    return pages.stylesheet()
