"""Customers' alert subscriptions: pre-registration and double opt-in, their own list, changes and
removal, and the one-click unsubscribe every notice links to."""

from __future__ import annotations

import html
from typing import Any

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib import wiring
from chalicelib.errors import BadRequest
from chalicelib.http import body_of, handled, html_response, identity_of, json_response, query_param, wants_json
from chalicelib.routes import link_maker
from chalicelib.routes.auth import jwt_auth
from chalicelib.states import HOLDING

bp = Blueprint(__name__)
# RFC 8058 mail clients post a form; the unsubscribe page's button posts the same form.
_FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]


@bp.route("/subscriptions", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def create_subscription() -> Any:
    from chalicelib import subscriptions

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
    from chalicelib import subscriptions

    subs = subscriptions.list_own(wiring.get().table, identity_of(bp.current_request))
    return json_response({"subscriptions": [s.public() for s in subs]})


@bp.route("/subscriptions/{subscription_id}", methods=["PATCH"], authorizer=jwt_auth)
@handled(bp)
def change_subscription(subscription_id: str) -> Any:
    from chalicelib import subscriptions

    request = bp.current_request
    who = identity_of(request)
    return json_response(subscriptions.change(wiring.get().table, who, subscription_id, body_of(request)).public())


@bp.route("/subscriptions/{subscription_id}", methods=["DELETE"], authorizer=jwt_auth)
@handled(bp)
def delete_subscription(subscription_id: str) -> Any:
    from chalicelib import subscriptions

    subscriptions.remove(wiring.get().table, identity_of(bp.current_request), subscription_id)
    return Response(body="", status_code=204, headers={"Cache-Control": "no-store"})


@bp.route("/subscriptions/confirm", methods=["GET"])
@handled(bp, page=True)
def confirm_subscription() -> Any:
    from chalicelib import subscriptions

    request = bp.current_request
    sub = subscriptions.confirm(wiring.get().table, wiring.get().keys.ring(), query_param(request, "token"))
    if wants_json(request):
        return json_response(sub.public())
    return html_response("Subscription confirmed", "<p>You will now receive the release alerts you asked for.</p>")


@bp.route("/unsubscribe", methods=["GET"])
@handled(bp, page=True)
def unsubscribe_page() -> Any:
    """Only a page: link scanners that follow the link unsubscribe nobody; the button POSTs."""
    from chalicelib import subscriptions

    request = bp.current_request
    token = query_param(request, "token")
    sub = subscriptions.unsubscribe_target(wiring.get().table, wiring.get().keys.ring(), token)
    if wants_json(request):
        return json_response({"status": sub.status if sub else "removed"})
    if sub is None or sub.status not in HOLDING:
        return html_response("Already unsubscribed", "<p>This address no longer receives these release alerts.</p>")
    products = html.escape(", ".join(sub.products))
    form = (
        f"<p>Stop release alerts for {products} to {html.escape(subscriptions.masked(sub.email))}?</p>"
        f'<form method="post" action="unsubscribe?token={html.escape(token)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return html_response("Unsubscribe", form)


@bp.route("/unsubscribe", methods=["POST"], content_types=_FORM_TYPES)
@handled(bp, page=True)
def unsubscribe() -> Any:
    """RFC 8058 one-click: no auth, no cookie; the signed token alone names the subscription."""
    from chalicelib import subscriptions

    request = bp.current_request
    if not subscriptions.is_one_click(request.raw_body):
        raise BadRequest("The body must be List-Unsubscribe=One-Click (RFC 8058).", code="invalid_body")
    sub = subscriptions.unsubscribe(wiring.get().table, wiring.get().keys.ring(), query_param(request, "token"))
    if wants_json(request):
        return json_response({"status": sub.status if sub else "removed"})
    return html_response("Unsubscribed", "<p>This address will receive no more of these release alerts.</p>")
