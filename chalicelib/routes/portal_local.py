"""The local stage's sign-in page, standing in for Cognito's managed login (``app.py`` registers this
blueprint in the local stage only, so no AWS stage routes it): the demo users of ``make run`` and any
account and address typed in, answered with an authorization code for the portal's callback."""

from __future__ import annotations

import os
from urllib.parse import urlencode

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.domain.core.errors import BadRequest, PatchcastError
from chalicelib.routes.http import query_param
from chalicelib.routes.portal import FORM

bp = Blueprint(__name__)
ROLES = (("customer", "Customer contact"), ("release-engineer", "Release engineer"), ("support-admin", "Support admin"))
_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method")


def _checked_query() -> dict[str, str]:
    """An authorize request only for this app's client and its own callback (no open redirect), with S256."""
    from chalicelib.routes.web import signin

    request = bp.current_request
    q = {k: query_param(request, k) for k in _PARAMS}
    wanted = {
        "response_type": "code",
        "client_id": wiring.get().settings.jwt_audience,
        "redirect_uri": signin.callback_url(),
        "code_challenge_method": "S256",
    }
    wrong = [k for k, value in wanted.items() if q[k] != value] + [k for k in ("state", "code_challenge") if not q[k]]
    if wrong:
        raise BadRequest(f"Query parameter '{wrong[0]}' is missing or not this app's.", code="invalid_request")
    return q


def demo_users() -> list[dict[str, str]]:
    """``make run`` names its demo users in PATCHCAST_LOCAL_USERS (account:email:tier, comma-separated)."""
    rows = [u.split(":") for u in os.environ.get("PATCHCAST_LOCAL_USERS", "").split(",") if u.count(":") == 2]
    return [{"account": a, "email": e, "tier": t} for a, e, t in rows]


def _refused(err: PatchcastError) -> Response:
    from chalicelib.routes.web import pages

    return pages.render("signed_out.html", status=err.status, title="Sign-in refused", message=err.message)


@bp.route("/portal/local/authorize", methods=["GET"])
def authorize_page() -> Response:
    from chalicelib.routes.web import pages

    try:
        q = _checked_query()
    except PatchcastError as err:
        return _refused(err)
    return pages.render("local_authorize.html", title="Sign in (local stage)", demo=demo_users(), query=urlencode(q),
                        roles=ROLES)  # fmt: skip


@bp.route("/portal/local/authorize", methods=["POST"], content_types=FORM)
def authorize() -> Response:
    from chalicelib.domain.core import validation as v
    from chalicelib.routes.web import local_issuer, pages, session

    try:
        q = _checked_query()
        form = {k: (vals or [""])[0] for k, vals in session.form_of(bp.current_request).items()}
        account = v.ident(form["account"], "account") if form.get("account") else None
        email, role = v.email(form.get("email", ""), "email"), form.get("role") or "customer"
        if role not in dict(ROLES):
            raise BadRequest(f"Field 'role' must be one of {', '.join(dict(ROLES))}.", code="validation_error")
    except PatchcastError as err:
        return _refused(err)
    code = local_issuer.issue_code(account=account, email=email, challenge=q["code_challenge"], role=role)
    return pages.redirect(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", status=303)
