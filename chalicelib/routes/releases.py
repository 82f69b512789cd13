"""Release engineers' routes: create, list, read, edit, upload (parts, complete), publish, yank, audience
preview, report (JSON or a page); the schedule."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.routes.auth import jwt_auth
from chalicelib.routes.http import body_of, handled, header, html_response, identity_of, json_response, wants_json

bp = Blueprint(__name__)


def _release(release_id: str) -> Any:
    from chalicelib.domain.releases import editing as releases

    return releases.get(wiring.get().table, identity_of(bp.current_request), release_id)


@bp.route("/releases", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def create_release() -> Any:
    from chalicelib.domain.releases import editing as releases

    w = wiring.get()
    request = bp.current_request
    limits = releases.UploadLimits(threshold=w.settings.multipart_threshold, part_size=w.settings.multipart_part_size)
    release, upload = releases.create(w.table, w.blobs, w.queues, identity_of(request), body_of(request), limits)
    body = release.public()
    if upload:
        body["upload"] = upload
    return json_response(body, status=201)


@bp.route("/releases", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def list_releases() -> Any:
    from chalicelib.domain.releases import editing as releases

    request = bp.current_request
    params = dict(request.query_params or {})
    return json_response(releases.list_releases(wiring.get().table, identity_of(request), params))


@bp.route("/releases/{release_id}", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def get_release(release_id: str) -> Any:
    return json_response(_release(release_id).public())


@bp.route("/releases/{release_id}", methods=["PATCH"], authorizer=jwt_auth)
@handled(bp)
def edit_release(release_id: str) -> Any:
    from chalicelib.domain.releases import editing as releases

    request = bp.current_request
    edited = releases.edit(wiring.get().table, identity_of(request), release_id, body_of(request))
    return json_response(edited.public())


@bp.route("/releases/{release_id}/upload/parts", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def upload_parts(release_id: str) -> Any:
    from chalicelib.domain.releases import uploads

    w, request = wiring.get(), bp.current_request
    return json_response(uploads.part_urls(w.table, w.blobs, identity_of(request), release_id, body_of(request)))


@bp.route("/releases/{release_id}/upload/complete", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def upload_complete(release_id: str) -> Any:
    from chalicelib.domain.releases import uploads

    w, request = wiring.get(), bp.current_request
    done = uploads.complete(w.table, w.blobs, w.queues, identity_of(request), release_id, body_of(request))
    return json_response(done.public(), status=202)


@bp.route("/releases/{release_id}/publish", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def publish_release(release_id: str) -> Any:
    from chalicelib.domain.releases import publishing

    w = wiring.get()
    return json_response(publishing.publish_as(w.table, w.queues, identity_of(bp.current_request), release_id).public())


@bp.route("/releases/{release_id}/yank", methods=["POST"], authorizer=jwt_auth)
@handled(bp)
def yank_release(release_id: str) -> Any:
    from chalicelib.domain.releases import recall

    w, request = wiring.get(), bp.current_request
    yanked = recall.yank(w.table, w.queues, identity_of(request), release_id, body_of(request))
    return json_response(yanked.public())


@bp.route("/releases/{release_id}/audience", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def release_audience(release_id: str) -> Any:
    from datetime import UTC, datetime

    from chalicelib.domain.releases import audience

    w = wiring.get()
    return json_response(audience.preview(w.table, _release(release_id), w.quota.get(), datetime.now(UTC)))


def _report(release_id: str, *, page: bool) -> Any:
    from chalicelib.domain.reports import release_report as reports

    release = _release(release_id)
    report = reports.report(wiring.get().table, release)
    if not page:
        return json_response(report)
    from chalicelib.domain.reports import page as report_page

    return html_response(*report_page.render(release, report))


@bp.route("/releases/{release_id}/report", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def release_report(release_id: str) -> Any:
    """JSON, or the page for a browser that asks for HTML (``Accept: text/html``) and not JSON."""
    request = bp.current_request
    return _report(release_id, page="text/html" in header(request, "accept") and not wants_json(request))


@bp.route("/releases/{release_id}/report.html", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def release_report_page(release_id: str) -> Any:
    return _report(release_id, page=True)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def publish_scheduled(event: Any) -> None:
    from chalicelib.domain.releases import publishing
    from chalicelib.observability import logger

    w = wiring.get()
    published = publishing.publish_due(w.table, w.queues)
    if published:
        logger.info("scheduled releases published", extra={"release_ids": published})
