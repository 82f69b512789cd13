"""A release's file upload after creation: presigned multipart part URLs, and completion (the declared
SHA-256 arrives here when the client hashed the file while uploading it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.auth import Identity
from chalicelib.domain.core import validation as v
from chalicelib.domain.core.errors import BadRequest, Conflict, NotFound
from chalicelib.domain.core.messages import UploadReady
from chalicelib.domain.core.models import Release
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.releases import editing as releases
from chalicelib.domain.releases.body import sha256_field
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Blobs, Queues
    from chalicelib.domain.releases.ports import ReleaseStore


MAX_PARTS_PER_CALL = 100
PART_URL_SECONDS = 3600


def _waiting(release: Release) -> Release:
    if release.status != ReleaseStatus.AWAITING_UPLOAD or not release.object_key:
        raise Conflict(
            f"Release {release.release_id} is {release.status}, not awaiting an upload.", code="not_awaiting_upload"
        )
    return release


def _part_count(release: Release) -> int:
    assert release.size and release.part_size
    return -(-release.size // release.part_size)


def part_urls(
    table: ReleaseStore, blobs: Blobs, who: Identity, release_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Presigned UploadPart URLs for the part numbers asked (minted on demand, so a resumed upload gets fresh ones)."""
    release = _waiting(releases.get(table, who, release_id))
    if not release.upload_id:
        raise Conflict(
            f"Release {release.release_id} uploads with a presigned POST, not in parts.", code="not_multipart"
        )
    v.reject_unknown(body, ("parts",))
    count = _part_count(release)
    wanted = body.get("parts")
    if (
        not isinstance(wanted, list)
        or not 0 < len(wanted) <= MAX_PARTS_PER_CALL
        or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= count for n in wanted)
    ):
        raise BadRequest(
            f"Field 'parts' must be a list of 1 to {MAX_PARTS_PER_CALL} part numbers from 1 to {count}.",
            code="invalid_field",
        )
    assert release.object_key
    return {
        "part_size": release.part_size,
        "part_count": count,
        "expires_in": PART_URL_SECONDS,
        "parts": [
            {
                "part_number": n,
                "url": blobs.presigned_part(release.object_key, release.upload_id, n, expires=PART_URL_SECONDS),
            }
            for n in sorted(set(wanted))
        ],
    }


def _parts(body: dict[str, Any], count: int) -> list[tuple[int, str]]:
    parts = body.get("parts")
    if not isinstance(parts, list) or len(parts) != count:
        raise BadRequest(f"Field 'parts' must list all {count} parts as {{part_number, etag}}.", code="invalid_field")
    found: list[tuple[int, str]] = []
    for p in parts:
        if not isinstance(p, dict) or not isinstance(p.get("etag"), str) or not isinstance(p.get("part_number"), int):
            raise BadRequest("Each entry of 'parts' must be {part_number, etag}.", code="invalid_field")
        found.append((p["part_number"], p["etag"][:100]))
    if sorted(n for n, _ in found) != list(range(1, count + 1)):
        raise BadRequest(f"Field 'parts' must number the parts 1 to {count}, once each.", code="invalid_field")
    return sorted(found)


def complete(
    table: ReleaseStore, blobs: Blobs, queues: Queues, who: Identity, release_id: str, body: dict[str, Any]
) -> Release:
    """Declare the SHA-256 (if not declared at creation), assemble a multipart upload, queue the verification.

    Idempotent: a retry (after a gateway timeout, or a 401 that came after the work was done) answers as the
    first call did, whether S3 and the verification have finished since or not.
    """
    release = releases.get(table, who, release_id)
    v.reject_unknown(body, ("sha256", "parts"))
    if _completed_before(release, body):
        logger.info("upload completed again", extra={"release_id": release.release_id, "status": release.status})
        return release
    _waiting(release)
    sha256 = sha256_field(body, required=release.sha256 is None) or release.sha256
    if release.sha256 and sha256 != release.sha256:
        raise BadRequest(
            "Field 'sha256' differs from the SHA-256 declared when the release was created.", code="invalid_field"
        )
    parts = _parts(body, _part_count(release)) if release.upload_id else []
    assert release.object_key
    if not release.upload_id and not blobs.exists(release.object_key):
        raise BadRequest(
            "The file has not been uploaded yet; POST it to the upload URL first.", code="upload_incomplete"
        )
    updated = (
        table.set_release_fields(release.release_id, in_status=ReleaseStatus.AWAITING_UPLOAD, sha256=sha256) or release
    )
    if release.upload_id:
        # Completing fires ObjectCreated, whose verification now finds the SHA-256 declared.
        _assemble(blobs, release, parts)
    else:
        # The POST's ObjectCreated may have come before the SHA-256 did, and waited: queue the check again.
        queues.send_upload_ready(UploadReady(release.object_key))
    logger.info("upload completed", extra={"release_id": release.release_id, "multipart": bool(release.upload_id)})
    return updated


def _completed_before(release: Release, body: dict[str, Any]) -> bool:
    """The upload was completed and verification has moved the release on: the same declaration again is a retry."""
    if release.status == ReleaseStatus.AWAITING_UPLOAD or not release.object_key or not release.sha256:
        return False
    return body.get("sha256") in (None, release.sha256)


def _assemble(blobs: Blobs, release: Release, parts: list[tuple[int, str]]) -> None:
    assert release.object_key and release.upload_id
    try:
        blobs.complete_multipart(release.object_key, release.upload_id, parts)
    except NotFound as exc:
        # S3 forgets an upload once assembled (CompleteMultipartUpload can outlast the gateway's 29 s): the object
        # at the key is that upload's, whose ObjectCreated is already on its way. Its size is verification's to judge.
        if not blobs.exists(release.object_key):
            raise BadRequest(
                "S3 no longer has this multipart upload (uploads abandoned for 7 days are aborted); create a new version.",
                code="upload_incomplete",
            ) from exc
        logger.info("multipart upload was already assembled", extra={"release_id": release.release_id})
