"""The emailed download link: entitlement at the click, then a short-lived redirect to S3."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.routes import link_maker
from chalicelib.routes.http import handled, header, html_response, json_response, source_ip, wants_json

bp = Blueprint(__name__)


@bp.route("/d/{token}", methods=["GET"])
@handled(bp, page=True)
def download(token: str) -> Any:
    from chalicelib.domain.downloads import clicks as downloads

    w = wiring.get()
    request = bp.current_request
    url = downloads.redirect_url(
        w.table,
        w.blobs,
        link_maker(w.keys.ring_for(token)),
        token,
        ip=source_ip(request),
        user_agent=header(request, "user-agent"),
    )
    return Response(
        body="",
        status_code=302,
        headers={"Location": url, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@bp.route("/d/{token}/info", methods=["GET"])
@handled(bp)
def download_info(token: str) -> Any:
    from chalicelib.domain.downloads import clicks as downloads

    w = wiring.get()
    return json_response(downloads.info(w.table, link_maker(w.keys.ring_for(token)), token))


@bp.route("/d/{token}/renew", methods=["POST"], content_types=["application/x-www-form-urlencoded", "application/json"])
@handled(bp, page=True)
def renew_download_link(token: str) -> Any:
    from chalicelib.domain.access.links import stated
    from chalicelib.domain.downloads import fresh_links

    w = wiring.get()
    maker = link_maker(w.keys.ring_for(token))
    expires = fresh_links.send_fresh_link(
        w.table, w.mailer, maker, token, days=w.settings.download_link_days, region=w.settings.region
    )
    until = stated(expires)
    if wants_json(bp.current_request):
        return json_response({"status": "sent", "expires": expires.isoformat().replace("+00:00", "Z")}, status=202)
    return html_response(
        "A fresh link is on its way",
        "<p>We emailed a new download link to the address the original link was sent to. "
        f"It works until {until} while your support contract is active.</p>",
        status=202,
    )
