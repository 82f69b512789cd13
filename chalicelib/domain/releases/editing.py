"""Releases: creation with a presigned upload, reading one, the list, and edits before publishing (publishing
and verifying the upload are ``chalicelib.domain.releases.publishing``'s; what a body may say, ``chalicelib.domain.releases.body``'s)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.auth import RELEASE_ENGINEERS, Identity
from chalicelib.domain.core import timestamps
from chalicelib.domain.core import validation as v
from chalicelib.domain.core.entitlements import KINDS
from chalicelib.domain.core.errors import AlreadyExists, Conflict, NotFound
from chalicelib.domain.core.models import Release, now_iso
from chalicelib.domain.core.queries import number
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.releases.body import _iso, parse_edit, parse_new
from chalicelib.domain.releases.ports import ReleaseStore
from chalicelib.domain.releases.publishing import after_available
from chalicelib.names import UPLOAD_PREFIX
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Blobs, Queues


# A release may be edited until it is published; the status after an edit follows from draft and notify_at
# as verification decides, except that an edit never publishes (``POST …/publish`` does).
EDITABLE = (ReleaseStatus.AWAITING_UPLOAD, ReleaseStatus.AVAILABLE, ReleaseStatus.SCHEDULED)
MAX_POST_SIZE = 5 * 1024**3  # S3's limit for a single PUT or POST
MAX_PARTS = 10_000  # S3's limit of parts in one multipart upload


def edit(table: ReleaseStore, who: Identity, release_id: str, body: dict[str, Any]) -> Release:
    """Change title, summary, ``notify_at`` or ``draft`` of a release not yet published: one conditional
    write, so an edit racing a publish either lands before it or is refused (409) with nothing written."""
    who.require_group(RELEASE_ENGINEERS)
    changes = parse_edit(body)
    release = get(table, who, release_id)
    if release.status not in EDITABLE:
        raise Conflict(_not_editable(release), code="not_editable")
    fields = {"notify_at": release.notify_at, "draft": release.draft, **changes}
    edited = table.edit_release(release_id, in_status=release.status, fields=fields)
    if edited is None:  # its state moved between the read and the write (published, most likely)
        now = table.get_release(release_id, consistent=True)
        raise Conflict(_not_editable(now) if now else f"Release {release_id} changed meanwhile.", code="not_editable")
    logger.info("release edited", extra={"release_id": release_id, "fields": sorted(changes)})
    return edited


def _not_editable(release: Release) -> str:
    why = f" ({release.reason})" if release.reason else ""
    if release.status in EDITABLE:
        return f"Release {release.release_id} changed while it was being edited; read it and try again."
    return f"Release {release.release_id} is {release.status}{why}: only a release not yet published can be edited."


LIST_FILTERS = ("product", "status", "kind", "created_from", "created_to", "published_from", "published_to",
                "cursor", "limit")  # fmt: skip
STATUSES = tuple(ReleaseStatus)
DRAFT = "draft"  # a list filter and what people are shown: an available release held back from publishing


def list_releases(table: ReleaseStore, who: Identity, params: dict[str, str]) -> dict[str, Any]:
    """``GET /releases``: newest first, filtered, a page at a time (``{"items", "next"}``)."""
    who.require_group(RELEASE_ENGINEERS)
    v.reject_unknown(params, LIST_FILTERS)
    # a time filter given empty ("published_to=") is refused as any other value that is not a time
    where = {f: _iso(timestamps.parse_timestamp(params[f], f)) for f in LIST_FILTERS[3:7] if f in params}
    if params.get("product"):
        where["product"] = v.ident(params["product"], "product")
    for name, options in (("status", (*STATUSES, DRAFT)), ("kind", KINDS)):
        if params.get(name):
            where[name] = v.choice(params, name, options)
    if where.get("status") in (DRAFT, ReleaseStatus.AVAILABLE):  # available means not held back as a draft
        where["draft"] = "true" if where["status"] == DRAFT else "false"
        where["status"] = ReleaseStatus.AVAILABLE
    limit = int(v.integer({"limit": number(params.get("limit", "50"))}, "limit", low=1, high=100) or 50)
    items, cursor = table.list_releases(where, limit=limit, cursor=params.get("cursor") or None)
    return {"items": [r.public() for r in items], "next": cursor}


@dataclass(frozen=True)
class UploadLimits:
    """Above ``threshold`` bytes a file goes up as S3 multipart in parts of ``part_size`` (configurable)."""

    threshold: int = MAX_POST_SIZE
    part_size: int = 64 * 1024**2

    def part_size_for(self, size: int) -> int:
        # S3 allows at most 10,000 parts: grow the part for very large files, in whole MiB.
        needed = -(-size // MAX_PARTS)
        return max(self.part_size, -(-needed // 1024**2) * 1024**2)


def create(
    table: ReleaseStore,
    blobs: Blobs,
    queues: Queues,
    who: Identity,
    body: dict[str, Any],
    limits: UploadLimits | None = None,
) -> tuple[Release, dict[str, Any] | None]:
    who.require_group(RELEASE_ENGINEERS)
    limits = limits or UploadLimits()
    fields = parse_new(body, known_products={p.product_id for p in table.list_products()})
    release_id = uuid.uuid4().hex[:16]
    has_file = "filename" in fields
    key = f"{UPLOAD_PREFIX}{release_id}/{fields['filename']}" if has_file else None
    multipart = has_file and fields["size"] > min(limits.threshold, MAX_POST_SIZE)
    upload_id = blobs.start_multipart(key) if multipart and key else None
    release = Release(
        release_id=release_id,
        status=ReleaseStatus.AWAITING_UPLOAD if has_file else ReleaseStatus.AVAILABLE,
        created_at=now_iso(),
        created_by=who.subject,
        object_key=key,
        upload_id=upload_id,
        part_size=limits.part_size_for(fields["size"]) if multipart else None,
        **fields,
    )
    try:
        table.create_release(release)
    except AlreadyExists:
        if key and upload_id:
            blobs.abort_multipart(key, upload_id)  # started for nothing: leave no parts behind
        raise
    logger.info("release created", extra={"release_id": release_id, "product": release.product})
    if not has_file:
        return after_available(table, queues, release), None
    return release, _upload(blobs, release)


def _upload(blobs: Blobs, release: Release) -> dict[str, Any]:
    """How the new release's file is to be uploaded: its multipart plan, or one presigned POST."""
    assert release.object_key and release.size
    release_id = release.release_id
    if release.upload_id and release.part_size:
        return {
            "method": "multipart",
            "part_size": release.part_size,
            "part_count": -(-release.size // release.part_size),
            "parts_url": f"/releases/{release_id}/upload/parts",
            "complete_url": f"/releases/{release_id}/upload/complete",
        }
    upload = blobs.presigned_post(release.object_key, size=release.size)
    upload["complete_url"] = f"/releases/{release_id}/upload/complete"
    return upload


def get(table: ReleaseStore, who: Identity, release_id: str) -> Release:
    who.require_group(RELEASE_ENGINEERS)
    release = table.get_release(release_id)
    if release is None:
        raise NotFound(f"Release {release_id} does not exist.")
    return release
