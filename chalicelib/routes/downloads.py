"""The emailed download link: entitlement at the click, then a short-lived redirect to S3."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib import downloads, wiring
from chalicelib.http import handled, header, source_ip

bp = Blueprint(__name__)


@bp.route("/d/{token}", methods=["GET"])
@handled(bp, page=True)
def download(token: str) -> Any:
    w = wiring.get()
    request = bp.current_request
    url = downloads.redirect_url(
        w.table,
        w.blobs,
        w.keys.ring(),
        token,
        ip=source_ip(request),
        user_agent=header(request, "user-agent"),
    )
    return Response(
        body="",
        status_code=302,
        headers={"Location": url, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
