"""Releases: creation with a presigned upload, verification of the upload, publishing."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib import validation as v
from chalicelib.auth import RELEASE_ENGINEERS, Identity
from chalicelib.blobs import UPLOAD_PREFIX, Blobs
from chalicelib.entitlements import CHANNELS, KINDS
from chalicelib.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from chalicelib.models import Release, now_iso
from chalicelib.observability import logger
from chalicelib.queues import Queues
from chalicelib.store import Table

CREATE_FIELDS = ("product", "version", "kind", "severity", "channel", "title", "summary", "filename", "size",
                 "sha256", "article_url", "notify_at", "draft")  # fmt: skip
MAX_POST_SIZE = 5 * 1024**3  # S3's limit for a single PUT or POST
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+()-]{0,199}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


def _file_fields(body: dict[str, Any], kind: str) -> dict[str, Any]:
    article_url = body.get("article_url")
    if article_url is not None:
        if kind != "critical-solution":
            raise BadRequest("Field 'article_url' is only for critical-solution articles.", code="invalid_field")
        if (
            not isinstance(article_url, str)
            or not article_url.startswith("https://")
            or len(article_url) > 2000
            or v._CONTROL.search(article_url)
        ):
            raise BadRequest(
                "Field 'article_url' must be an https:// URL of at most 2000 characters.", code="invalid_field"
            )
        if any(body.get(f) is not None for f in ("filename", "size", "sha256")):
            raise BadRequest(
                "Give either a file (filename, size, sha256) or an article_url, not both.", code="invalid_field"
            )
        return {"article_url": article_url}
    filename = body.get("filename")
    if not isinstance(filename, str) or not _FILENAME.match(filename) or filename in (".", ".."):
        raise BadRequest(
            "Field 'filename' must be a plain file name (letters, digits, space, . _ + ( ) -; no path separators or control characters).",
            code="invalid_field",
        )
    size = v.integer(body, "size", low=1, high=5 * 1024**4)
    sha256 = body.get("sha256")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise BadRequest("Field 'sha256' must be 64 lowercase hexadecimal characters.", code="invalid_field")
    return {"filename": filename, "size": size, "sha256": sha256}


def parse_new(body: dict[str, Any], *, known_products: set[str]) -> dict[str, Any]:
    v.reject_unknown(body, CREATE_FIELDS)
    product = v.identifier(body, "product")
    if product not in known_products:
        raise BadRequest(f"Unknown product: {product}.", code="unknown_product")
    version = body.get("version")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise BadRequest(
            "Field 'version' must be letters, digits, '.', '_', '+' or '-' (at most 64).", code="invalid_field"
        )
    kind = v.choice(body, "kind", KINDS)
    notify_at = v.timestamp(body, "notify_at")
    if notify_at is not None and notify_at <= datetime.now(UTC):
        raise BadRequest("Field 'notify_at' is in the past.", code="invalid_field")
    return {
        "product": product,
        "version": version,
        "kind": kind,
        "severity": v.integer(body, "severity", low=1, high=4),
        "channel": v.choice(body, "channel", CHANNELS, default="ga"),
        "title": v.text(body, "title", max_len=200),
        "summary": v.text(body, "summary", max_len=4000, required=False, multiline=True) or "",
        "notify_at": notify_at.isoformat().replace("+00:00", "Z") if notify_at else None,
        "draft": v.boolean(body, "draft", default=False),
        **_file_fields(body, kind),
    }


def create(
    table: Table, blobs: Blobs, queues: Queues, fanout_queue: str, who: Identity, body: dict[str, Any]
) -> tuple[Release, dict[str, Any] | None]:
    who.require_group(RELEASE_ENGINEERS)
    fields = parse_new(body, known_products={p.product_id for p in table.list_products()})
    if fields.get("size") and fields["size"] > MAX_POST_SIZE:
        raise PayloadTooLarge(
            "Files above 5 GiB need a multipart upload, which this API does not offer yet.",
            code="multipart_unsupported",
        )
    release_id = uuid.uuid4().hex[:16]
    has_file = "filename" in fields
    release = Release(
        release_id=release_id,
        status="awaiting-upload" if has_file else "available",
        created_at=now_iso(),
        created_by=who.subject,
        object_key=f"{UPLOAD_PREFIX}{release_id}/{fields['filename']}" if has_file else None,
        **fields,
    )
    table.create_release(release)
    logger.info("release created", extra={"release_id": release_id, "product": release.product})
    if not has_file:
        return after_available(table, queues, fanout_queue, release), None
    assert release.object_key and release.size
    return release, blobs.presigned_post(release.object_key, size=release.size)


def get(table: Table, who: Identity, release_id: str) -> Release:
    who.require_group(RELEASE_ENGINEERS)
    release = table.get_release(release_id)
    if release is None:
        raise NotFound(f"Release {release_id} does not exist.")
    return release


def verify_upload(table: Table, blobs: Blobs, queues: Queues, fanout_queue: str, key: str) -> Release | None:
    """S3 ObjectCreated: the size and SHA-256 must be what the release declared, or nobody hears of it."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] + "/" != UPLOAD_PREFIX:
        logger.warning("object outside the upload layout ignored", extra={"key": key})
        return None
    release = table.get_release(parts[1], consistent=True)
    if release is None or release.object_key != key or release.status != "awaiting-upload":
        logger.warning("upload for no waiting release ignored", extra={"key": key})
        return None
    size = blobs.size_of(key)
    problem = None
    if size != release.size:
        problem = f"size is {size} bytes, {release.size} were declared"
    else:
        digest = blobs.sha256_of(key)
        if digest != release.sha256:
            problem = f"SHA-256 is {digest}, {release.sha256} was declared"
    if problem:
        moved = blobs.move_aside(key)
        logger.warning("upload rejected", extra={"release_id": release.release_id, "reason": problem})
        return table.transition_release(
            release.release_id,
            from_status=["awaiting-upload"],
            to_status="rejected",
            reason=f"upload rejected: {problem}",
            object_key=moved,
        )
    verified = table.transition_release(release.release_id, from_status=["awaiting-upload"], to_status="available")
    if verified is None:
        return None
    logger.info("upload verified", extra={"release_id": release.release_id})
    return after_available(table, queues, fanout_queue, verified)


def after_available(table: Table, queues: Queues, fanout_queue: str, release: Release) -> Release:
    if release.draft:
        return release
    if release.notify_at:
        return table.transition_release(release.release_id, from_status=["available"], to_status="scheduled") or release
    return publish(table, queues, fanout_queue, release.release_id)


def publish(table: Table, queues: Queues, fanout_queue: str, release_id: str) -> Release:
    """Idempotent: the state moves once, and the fan-out is queued until it is known to be queued."""
    release = table.transition_release(
        release_id, from_status=["available", "scheduled"], to_status="published", published_at=now_iso()
    ) or table.get_release(release_id, consistent=True)
    if release is None:
        raise NotFound(f"Release {release_id} does not exist.")
    if release.status != "published":
        raise Conflict(f"Release {release_id} is {release.status} and cannot be published.", code="not_publishable")
    if not release.fanout_at:
        queues.send(fanout_queue, {"release_id": release_id, "page": 0, "cursor": None})
        table.mark_fanout_queued(release_id)
        logger.info("release published", extra={"release_id": release_id})
    return release
