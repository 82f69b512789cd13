"""Customers' alert subscriptions: pre-registration and double opt-in, their own list, changes and
removal, and the one-click unsubscribe every notice links to."""

from __future__ import annotations

import html
from typing import Any

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.domain.core.errors import BadRequest, NotFound
from chalicelib.domain.core.states import HOLDING
from chalicelib.routes import link_maker
from chalicelib.routes.auth import jwt_auth
from chalicelib.routes.http import (
    body_of,
    handled,
    header,
    html_response,
    identity_of,
    json_response,
    query_param,
    wants_json,
)

bp = Blueprint(__name__)
# RFC 8058 mail clients post a form; the unsubscribe page's button posts the same form.
_FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]


@bp.route("/subscriptions", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def create_subscription() -> Any:
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    w = wiring.get()
    request = bp.current_request
    sub = subscriptions.create(
        w.table,
        w.mailer,
        link_maker(),
        identity_of(request),
        body_of(request),
        confirm_hours=w.settings.confirm_link_hours,
    )
    return json_response({"id": sub.subscription_id, "status": sub.status}, status=202)


@bp.route("/subscriptions", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def list_subscriptions() -> Any:
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    subs = subscriptions.list_own(wiring.get().table, identity_of(bp.current_request))
    return json_response({"subscriptions": [s.public() for s in subs]})


@bp.route("/subscriptions/{subscription_id}", methods=["PATCH"], authorizer=jwt_auth)
@handled(bp)
def change_subscription(subscription_id: str) -> Any:
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    request = bp.current_request
    who = identity_of(request)
    return json_response(subscriptions.change(wiring.get().table, who, subscription_id, body_of(request)).public())


@bp.route("/subscriptions/{subscription_id}", methods=["DELETE"], authorizer=jwt_auth)
@handled(bp)
def delete_subscription(subscription_id: str) -> Any:
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    subscriptions.remove(wiring.get().table, identity_of(bp.current_request), subscription_id)
    return Response(body="", status_code=204, headers={"Cache-Control": "no-store"})


@bp.route("/subscriptions/{subscription_id}/confirmation", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def resend_confirmation(subscription_id: str) -> Any:
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    w = wiring.get()
    who = identity_of(bp.current_request)
    sub = subscriptions.resend_confirmation(
        w.table, w.mailer, link_maker(), who, subscription_id, confirm_hours=w.settings.confirm_link_hours
    )
    return json_response({"id": sub.subscription_id, "status": sub.status}, status=202)


@bp.route("/subscriptions/confirm", methods=["GET"])
@handled(bp, page=True)
def confirm_page() -> Any:
    """Only a page: a link scanner's GET confirms nobody; the button POSTs."""
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    request = bp.current_request
    token = query_param(request, "token")
    sub = subscriptions.confirm_target(wiring.get().table, wiring.get().keys.ring(), token)
    if sub is None:
        raise NotFound("This confirmation link is not valid.", code="invalid_link")
    if wants_json(request):
        return json_response({"status": sub.status})
    if sub.status == "active":
        return html_response("Subscription confirmed", "<p>You will receive the release alerts you asked for.</p>")
    question = f"Receive release alerts for {', '.join(sub.products)} at {subscriptions.masked(sub.email)}?"
    return html_response(
        "Confirm your subscription", _button_form(question, f"confirm?token={token}", "Confirm my subscription")
    )


@bp.route("/subscriptions/confirm", methods=["POST"], content_types=[*_FORM_TYPES, "application/json"])
@handled(bp, page=True)
def confirm_subscription() -> Any:
    """The button's form (token in the query) or a script's JSON ``{"token"}``; confirming twice is a 200."""
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    request = bp.current_request
    token = query_param(request, "token") or _json_token(request)
    sub = subscriptions.confirm(wiring.get().table, wiring.get().keys.ring(), token)
    if wants_json(request):
        return json_response(sub.public())
    return html_response("Subscription confirmed", "<p>You will now receive the release alerts you asked for.</p>")


def _json_token(request: Any) -> str:
    if "json" not in header(request, "content-type"):
        return ""
    token = body_of(request).get("token")
    if not isinstance(token, str):
        raise BadRequest("Field 'token' is required: the token of the emailed confirmation link.", code="missing_field")
    return token


@bp.route("/unsubscribe", methods=["GET"])
@handled(bp, page=True)
def unsubscribe_page() -> Any:
    """Only a page: link scanners that follow the link unsubscribe nobody; the button POSTs."""
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    request = bp.current_request
    token = query_param(request, "token")
    sub = subscriptions.unsubscribe_target(wiring.get().table, wiring.get().keys.ring(), token)
    if wants_json(request):
        return json_response({"status": sub.status if sub else "removed"})
    if sub is None or sub.status not in HOLDING:
        return html_response("Already unsubscribed", "<p>This address no longer receives these release alerts.</p>")
    question = f"Stop release alerts for {', '.join(sub.products)} to {subscriptions.masked(sub.email)}?"
    hidden = '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
    return html_response("Unsubscribe", _button_form(question, f"unsubscribe?token={token}", "Unsubscribe", hidden))


def _button_form(question: str, action: str, button: str, hidden: str = "") -> str:
    """A question and the one button that does it (a POST: a link scanner's GET changes nothing)."""
    return (
        f"<p>{html.escape(question)}</p>"
        f'<form method="post" action="{html.escape(action)}">{hidden}'
        f'<button type="submit">{html.escape(button)}</button></form>'
    )


@bp.route("/unsubscribe", methods=["POST"], content_types=_FORM_TYPES)
@handled(bp, page=True)
def unsubscribe() -> Any:
    """RFC 8058 one-click: no auth, no cookie; the signed token alone names the subscription."""
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    request = bp.current_request
    if not subscriptions.is_one_click(request.raw_body):
        raise BadRequest("The body must be List-Unsubscribe=One-Click (RFC 8058).", code="invalid_body")
    sub = subscriptions.unsubscribe(wiring.get().table, wiring.get().keys.ring(), query_param(request, "token"))
    if wants_json(request):
        return json_response({"status": sub.status if sub else "removed"})
    return html_response("Unsubscribed", "<p>This address will receive no more of these release alerts.</p>")
