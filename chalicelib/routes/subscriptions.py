"""Customers' alert subscriptions: pre-registration and double opt-in."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint  # type: ignore[attr-defined]

from chalicelib import subscriptions, wiring
from chalicelib.http import body_of, handled, html_response, identity_of, json_response, query_param, wants_json
from chalicelib.routes import links
from chalicelib.routes.auth import jwt_auth

bp = Blueprint(__name__)


@bp.route("/subscriptions", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def create_subscription() -> Any:
    w = wiring.get()
    request = bp.current_request
    sub = subscriptions.create(
        w.table, w.mailer, links(), identity_of(request), body_of(request), confirm_hours=w.settings.confirm_link_hours
    )
    return json_response({"id": sub.subscription_id, "status": sub.status}, status=202)


@bp.route("/subscriptions/confirm", methods=["GET"])
@handled(bp, page=True)
def confirm_subscription() -> Any:
    request = bp.current_request
    sub = subscriptions.confirm(wiring.get().table, wiring.get().keys.ring(), query_param(request, "token"))
    if wants_json(request):
        return json_response(sub.public())
    return html_response("Subscription confirmed", "<p>You will now receive the release alerts you asked for.</p>")
