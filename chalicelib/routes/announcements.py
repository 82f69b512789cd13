"""Announcements of upcoming releases (advance notices to Elite accounts): create, list, move, cancel."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.routes.auth import jwt_auth
from chalicelib.routes.http import body_of, handled, identity_of, json_response

bp = Blueprint(__name__)


@bp.route("/announcements", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def create_announcement() -> Any:
    from chalicelib.domain.announcements import plans as announcements

    w = wiring.get()
    request = bp.current_request
    created = announcements.create(w.table, w.queues, identity_of(request), body_of(request))
    return json_response(created.public(), status=201)


@bp.route("/announcements", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def list_announcements() -> Any:
    from chalicelib.domain.announcements import plans as announcements

    request = bp.current_request
    params = dict(request.query_params or {})
    return json_response(announcements.list_for(wiring.get().table, identity_of(request), params))


@bp.route("/announcements/{announcement_id}", methods=["PATCH"], authorizer=jwt_auth)
@handled(bp)
def move_announcement(announcement_id: str) -> Any:
    from chalicelib.domain.announcements import plans as announcements

    w = wiring.get()
    request = bp.current_request
    moved = announcements.move(w.table, w.queues, identity_of(request), announcement_id, body_of(request))
    return json_response(moved.public())


@bp.route("/announcements/{announcement_id}", methods=["DELETE"], authorizer=jwt_auth)
@handled(bp)
def cancel_announcement(announcement_id: str) -> Any:
    from chalicelib.domain.announcements import plans as announcements

    w = wiring.get()
    request = bp.current_request
    cancelled = announcements.cancel(w.table, w.queues, identity_of(request), announcement_id)
    return json_response(cancelled.public())
