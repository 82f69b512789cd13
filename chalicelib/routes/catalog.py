"""The catalogue of fixes for scripts: the releases the caller's account may download now, and a download
from it (the same checks, audit and refusals as an emailed link)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.routes.auth import jwt_auth
from chalicelib.routes.http import handled, header, identity_of, json_response, source_ip

bp = Blueprint(__name__)


@bp.route("/catalog", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def catalog() -> Any:
    from chalicelib.domain.downloads import catalog as fixes

    request = bp.current_request
    return json_response(fixes.page(wiring.get().table, identity_of(request), dict(request.query_params or {})))


@bp.route("/catalog/{release_id}/download", methods=["GET"], authorizer=jwt_auth)
@handled(bp, page=True)
def catalog_download(release_id: str) -> Any:
    from chalicelib.domain.downloads import catalog as fixes

    w = wiring.get()
    request = bp.current_request
    base = w.settings.public_base_url
    url = fixes.download_url(
        w.table,
        w.blobs,
        identity_of(request),
        release_id,
        ip=source_ip(request),
        user_agent=header(request, "user-agent"),
        successor_href=lambda rid: f"{base}/catalog/{rid}/download",
    )
    return Response(
        body="",
        status_code=302,
        headers={"Location": url, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
