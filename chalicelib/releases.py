"""Releases: creation with a presigned upload, the list, edits before publishing, verification of the
upload, publishing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from chalicelib import validation as v
from chalicelib import versions
from chalicelib.announced import AnnouncedStore
from chalicelib.auth import RELEASE_ENGINEERS, Identity
from chalicelib.entitlements import CHANNELS, KINDS
from chalicelib.errors import AlreadyExists, BadRequest, Conflict, NotFound
from chalicelib.messages import FanoutPage
from chalicelib.models import Product, Release, now_iso
from chalicelib.names import UPLOAD_PREFIX
from chalicelib.observability import logger
from chalicelib.states import ReleaseStatus

if TYPE_CHECKING:  # adapters (and boto3 under them) load when wiring makes them, not at import
    from chalicelib.blobs import Blobs, Stored
    from chalicelib.queues import Queues


# A release may be edited until it is published; the status after an edit follows from draft and notify_at
# as verification decides, except that an edit never publishes (``POST …/publish`` does).
EDITABLE = (ReleaseStatus.AWAITING_UPLOAD, ReleaseStatus.AVAILABLE, ReleaseStatus.SCHEDULED)
EDIT_FIELDS = ("title", "summary", "notify_at", "draft", "applies_to")
CREATE_FIELDS = ("product", "version", "kind", "severity", "channel", "title", "summary", "filename", "size",
                 "sha256", "article_url", "notify_at", "draft", "applies_to")  # fmt: skip
MAX_POST_SIZE = 5 * 1024**3  # S3's limit for a single PUT or POST
# The largest file accepted: verification reads it all in one on_upload invocation (300 s at 512 MB). At a
# conservative 30 MiB/s from S3 that is 171 s, well inside the timeout (docs/releases.md, "Size limit").
MAX_FILE_SIZE = 5 * 1024**3
MAX_PARTS = 10_000  # S3's limit of parts in one multipart upload
# How long a verified build stays locked (S3 Object Lock): the evidence of what customers were told the SHA-256
# of outlives any support contract that could have downloaded it (docs/deploy.md, "Released builds cannot change").
RETENTION_DAYS = 7 * 365
QUEUEING_LEASE_SECONDS = 60  # outlives a publish call (the API's timeout is 30 s)
# Whole-value patterns (fullmatch): "$" would also accept a final newline.
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+()-]{0,199}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


class ReleaseTransitions(Protocol):
    """What moving a release between states (and queueing its first page once) needs from the store."""

    def get_release(self, release_id: str, *, consistent: bool = False) -> Release | None: ...
    def transition_release(
        self,
        release_id: str,
        *,
        from_status: Sequence[ReleaseStatus],
        to_status: ReleaseStatus,
        due_by: str | None = None,
        **fields: Any,
    ) -> Release | None: ...
    def claim_queueing(self, release_id: str, notice: Literal["fanout", "recall"], *, lease_seconds: int) -> bool: ...
    def mark_queued(self, release_id: str, notice: Literal["fanout", "recall"]) -> None: ...


class ReleaseStore(ReleaseTransitions, AnnouncedStore, Protocol):
    """What creating, editing, listing and publishing releases need from the store."""

    def list_products(self) -> list[Product]: ...
    def create_release(self, release: Release) -> None: ...
    def edit_release(self, release_id: str, *, in_status: ReleaseStatus, fields: dict[str, Any]) -> Release | None: ...
    def list_releases(
        self, where: Mapping[str, str], *, limit: int, cursor: str | None
    ) -> tuple[list[Release], str | None]: ...
    def schedule_release(self, release: Release) -> Release | None: ...
    def due_releases(self, now: str, *, limit: int = 25) -> list[str]: ...


def _file_fields(body: dict[str, Any], kind: str) -> dict[str, Any]:
    article_url = body.get("article_url")
    if article_url is not None:
        if kind != "critical-solution":
            raise BadRequest("Field 'article_url' is only for critical-solution articles.", code="invalid_field")
        if not isinstance(article_url, str) or not article_url.startswith("https://") or len(article_url) > 2000:
            raise BadRequest(
                "Field 'article_url' must be an https:// URL of at most 2000 characters.", code="invalid_field"
            )
        if any(body.get(f) is not None for f in ("filename", "size", "sha256")):
            raise BadRequest(
                "Give either a file (filename, size, sha256) or an article_url, not both.", code="invalid_field"
            )
        return {"article_url": v.safe(article_url, "article_url")}
    filename = body.get("filename")
    if isinstance(filename, str):
        v.safe(filename, "filename")  # names the character, before the pattern's general refusal
    if not isinstance(filename, str) or not _FILENAME.fullmatch(filename) or filename in (".", ".."):
        raise BadRequest(
            "Field 'filename' must be a plain file name (letters, digits, space, . _ + ( ) -; no path separators or control characters).",
            code="invalid_field",
        )
    size = v.integer(body, "size", low=1, high=MAX_FILE_SIZE)
    # The SHA-256 may come now or with POST /releases/{id}/upload/complete (a client that hashes while it
    # uploads knows it only at the end); verification waits until it is known.
    return {"filename": filename, "size": size, "sha256": sha256_field(body, required=False)}


def sha256_field(body: dict[str, Any], *, required: bool) -> str | None:
    sha256 = body.get("sha256")
    if sha256 is None and not required:
        return None
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise BadRequest("Field 'sha256' must be 64 lowercase hexadecimal characters.", code="invalid_field")
    return sha256


def parse_product(body: dict[str, Any], known_products: set[str]) -> str:
    product = v.identifier(body, "product")
    if product not in known_products:
        raise BadRequest(f"Unknown product: {product}.", code="unknown_product")
    return str(product)


def parse_new(body: dict[str, Any], *, known_products: set[str]) -> dict[str, Any]:
    v.reject_unknown(body, CREATE_FIELDS)
    product = parse_product(body, known_products)
    version = parse_version(body)
    kind = v.choice(body, "kind", KINDS)
    notify_at = _future(body)
    return {
        "product": product,
        "version": version,
        "kind": kind,
        "severity": v.integer(body, "severity", low=1, high=4),
        "channel": v.choice(body, "channel", CHANNELS, default="ga"),
        "title": _title(body),
        "summary": _summary(body),
        "notify_at": notify_at,
        "draft": v.boolean(body, "draft", default=False),
        "applies_to": _applies_to(body),
        **_file_fields(body, kind),
    }


def parse_version(body: dict[str, Any]) -> str:
    version = body.get("version")
    if isinstance(version, str):
        v.safe(version, "version")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise BadRequest(
            "Field 'version' must be letters, digits, '.', '_', '+' or '-' (at most 64).", code="invalid_field"
        )
    return version


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _future(body: dict[str, Any]) -> str | None:
    notify_at = v.timestamp(body, "notify_at")
    if notify_at is not None and notify_at <= datetime.now(UTC):
        raise BadRequest("Field 'notify_at' is in the past.", code="invalid_field")
    return _iso(notify_at) if notify_at else None


def _title(body: dict[str, Any]) -> str:
    return str(v.text(body, "title", max_len=200))


def _summary(body: dict[str, Any]) -> str:
    return v.text(body, "summary", max_len=4000, required=False, multiline=True) or ""


def _applies_to(body: dict[str, Any]) -> tuple[str, ...] | None:
    """The version lines the release is for; absent or null: every line. Its own ``version`` need not fall under
    them (docs/releases.md, "Version lines")."""
    value = body.get("applies_to")
    return None if value is None else versions.lines(value, "applies_to")


_EDITORS = {
    "title": _title,
    "summary": _summary,
    "notify_at": _future,
    "draft": lambda body: v.boolean(body, "draft", default=False),
    "applies_to": lambda body: list(lines) if (lines := _applies_to(body)) else None,
}


def parse_edit(body: dict[str, Any]) -> dict[str, Any]:
    """PATCH's fields, validated as create validates them; ``notify_at: null`` unschedules."""
    v.reject_unknown(body, EDIT_FIELDS)
    if not body:
        raise BadRequest(f"Give at least one of {', '.join(EDIT_FIELDS)}.", code="missing_field")
    return {name: _EDITORS[name](body) for name in EDIT_FIELDS if name in body}


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


def list_releases(table: ReleaseStore, who: Identity, params: dict[str, str]) -> dict[str, Any]:
    """``GET /releases``: newest first, filtered, a page at a time (``{"items", "next"}``)."""
    who.require_group(RELEASE_ENGINEERS)
    v.reject_unknown(params, LIST_FILTERS)
    where = {f: _iso(v.parse_timestamp(params[f], f)) for f in LIST_FILTERS[3:7] if params.get(f)}
    if params.get("product"):
        where["product"] = v.ident(params["product"], "product")
    for name, options in (("status", STATUSES), ("kind", KINDS)):
        if params.get(name):
            where[name] = v.choice(params, name, options)
    limit = int(v.integer({"limit": _number(params.get("limit", "50"))}, "limit", low=1, high=100) or 50)
    items, cursor = table.list_releases(where, limit=limit, cursor=params.get("cursor") or None)
    return {"items": [r.public() for r in items], "next": cursor}


def _number(value: str) -> int | str:
    return int(value) if value.isdigit() and len(value) < 6 else value


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
    assert release.object_key and release.size
    if upload_id and release.part_size:
        return release, {
            "method": "multipart",
            "part_size": release.part_size,
            "part_count": -(-release.size // release.part_size),
            "parts_url": f"/releases/{release_id}/upload/parts",
            "complete_url": f"/releases/{release_id}/upload/complete",
        }
    upload = blobs.presigned_post(release.object_key, size=release.size)
    upload["complete_url"] = f"/releases/{release_id}/upload/complete"
    return release, upload


def get(table: ReleaseStore, who: Identity, release_id: str) -> Release:
    who.require_group(RELEASE_ENGINEERS)
    release = table.get_release(release_id)
    if release is None:
        raise NotFound(f"Release {release_id} does not exist.")
    return release


def verify_upload(table: ReleaseStore, blobs: Blobs, queues: Queues, key: str) -> Release | None:
    """S3 ObjectCreated: the size and SHA-256 must be what the release declared, or nobody hears of it."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] + "/" != UPLOAD_PREFIX:
        logger.warning("object outside the upload layout ignored", extra={"key": key})
        return None
    release = table.get_release(parts[1], consistent=True)
    if release is None or release.object_key != key or release.status != ReleaseStatus.AWAITING_UPLOAD:
        logger.warning("upload for no waiting release ignored", extra={"key": key})
        return None
    if release.sha256 is None:
        # The uploader declares the SHA-256 on completion; that call queues this check again.
        logger.info("upload waits for its declared SHA-256", extra={"release_id": release.release_id})
        return None
    try:
        stored = blobs.stat(key)
        problem = _problem_with(blobs, release, key, stored)
    except NotFound:
        logger.warning("uploaded object is gone", extra={"key": key})
        return None
    if problem:
        moved = blobs.move_aside(key)
        logger.warning("upload rejected", extra={"release_id": release.release_id, "reason": problem})
        return table.transition_release(
            release.release_id,
            from_status=[ReleaseStatus.AWAITING_UPLOAD],
            to_status=ReleaseStatus.REJECTED,
            reason=f"upload rejected: {problem}",
            object_key=moved,
        )
    assert stored.version_id  # _problem_with refuses an unversioned object
    # Lock the version before anyone can hear of it: a failure here leaves the release waiting and the event retried.
    blobs.retain(key, stored.version_id, until=datetime.now(UTC) + timedelta(days=RETENTION_DAYS))
    verified = table.transition_release(
        release.release_id,
        from_status=[ReleaseStatus.AWAITING_UPLOAD],
        to_status=ReleaseStatus.AVAILABLE,
        object_version=stored.version_id,
    )
    if verified is None:
        return None
    logger.info("upload verified", extra={"release_id": release.release_id, "version_id": stored.version_id})
    return after_available(table, queues, verified)


def _problem_with(blobs: Blobs, release: Release, key: str, stored: Stored) -> str | None:
    """What is wrong with the uploaded object, or None: the size first (cheap), then the SHA-256 of that version."""
    if stored.version_id is None:
        # Without versions a verified build could be overwritten under its key: an infrastructure fault, not the
        # uploader's; raising keeps the release waiting and the event retried (then the DLQ and its alarm).
        raise RuntimeError(f"bucket {blobs.bucket} keeps no versions: {key} cannot be pinned; enable versioning")
    if stored.size != release.size:
        return f"size is {stored.size} bytes, {release.size} were declared"
    # S3's own full-object SHA-256 spares reading the file when the uploader sent one; our presigned POST
    # (signed before the digest is known) and multipart (composite checksums) never have it: hash the stream.
    digest = stored.sha256 or blobs.sha256_of(key, stored.version_id)
    if digest != release.sha256:
        return f"SHA-256 is {digest}, {release.sha256} was declared"
    return None


def after_available(table: ReleaseStore, queues: Queues, release: Release) -> Release:
    if release.draft:
        return release
    if release.notify_at and release.notify_at > now_iso():
        return table.schedule_release(release) or release
    return publish(table, queues, release.release_id)


def publish(table: ReleaseStore, queues: Queues, release_id: str, *, due_by: str | None = None) -> Release:
    """Idempotent: the state moves once, and the fan-out's first page is queued once. With ``due_by`` (the
    schedule), only a scheduled release whose ``notify_at`` has come: one rescheduled since the index was
    read stays scheduled (409).

    Only the publisher that takes the queueing claim sends it (two at once: one page 0), and the claim is
    held until ``fanout_at`` records it queued; a publisher that died holding it is overtaken after the
    lease by the next publish (the page's own claim absorbs a copy sent twice all the same).
    """
    release = table.transition_release(
        release_id,
        from_status=[ReleaseStatus.SCHEDULED] if due_by else [ReleaseStatus.AVAILABLE, ReleaseStatus.SCHEDULED],
        to_status=ReleaseStatus.PUBLISHED,
        due_by=due_by,
        published_at=now_iso(),
    ) or table.get_release(release_id, consistent=True)
    if release is None:
        raise NotFound(f"Release {release_id} does not exist.")
    if release.status != ReleaseStatus.PUBLISHED:
        raise Conflict(f"Release {release_id} is {release.status} and cannot be published.", code="not_publishable")
    if not release.fanout_at and table.claim_queueing(release_id, "fanout", lease_seconds=QUEUEING_LEASE_SECONDS):
        from chalicelib import announcements  # an announced version: marked released, its notice threaded under

        release = announcements.on_published(table, release)
        queues.send_fanout_page(FanoutPage(release_id))
        table.mark_queued(release_id, "fanout")
        logger.info("release published", extra={"release_id": release_id})
    return release


def publish_as(table: ReleaseStore, queues: Queues, who: Identity, release_id: str) -> Release:
    """``publish`` on a release engineer's request (the schedule and a verified upload publish as the system)."""
    who.require_group(RELEASE_ENGINEERS)
    return publish(table, queues, release_id)


def publish_due(table: ReleaseStore, queues: Queues, *, now: str | None = None) -> list[str]:
    """The schedule: publish every scheduled release whose time has come (a page at a time, until none)."""
    published: list[str] = []
    now = now or now_iso()
    skipped: set[str] = set()
    for _ in range(100):  # bounded: a schedule tick must end well inside its Lambda timeout
        # The index is eventually consistent: a release published (or rescheduled) a moment ago may still be listed.
        due = [r for r in table.due_releases(now) if r not in published and r not in skipped]
        if not due:
            break
        for release_id in due:
            try:
                publish(table, queues, release_id, due_by=now)
            except Conflict:
                logger.warning("due release no longer publishable", extra={"release_id": release_id})
                skipped.add(release_id)
                continue
            published.append(release_id)
    return published
