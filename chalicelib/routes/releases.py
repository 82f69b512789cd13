"""Release engineers' routes: create, read, publish."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint  # type: ignore[attr-defined]

from chalicelib import releases, wiring
from chalicelib.http import body_of, handled, identity_of, json_response
from chalicelib.routes.auth import jwt_auth

bp = Blueprint(__name__)


@bp.route("/releases", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def create_release() -> Any:
    w = wiring.get()
    request = bp.current_request
    release, upload = releases.create(
        w.table, w.blobs, w.queues, w.settings.names.fanout_queue, identity_of(request), body_of(request)
    )
    body = release.public()
    if upload:
        body["upload"] = upload
    return json_response(body, status=201)


@bp.route("/releases/{release_id}", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def get_release(release_id: str) -> Any:
    return json_response(releases.get(wiring.get().table, identity_of(bp.current_request), release_id).public())


@bp.route("/releases/{release_id}/publish", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def publish_release(release_id: str) -> Any:
    w = wiring.get()
    releases.get(w.table, identity_of(bp.current_request), release_id)
    return json_response(releases.publish(w.table, w.queues, w.settings.names.fanout_queue, release_id).public())
