"""Publishing a release: verifying its upload (the declared size and SHA-256, then the version locked),
publishing it then, on a release engineer's request or when its ``notify_at`` comes, and queueing its
fan-out's first page once."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from chalicelib.domain.access.auth import RELEASE_ENGINEERS, Identity
from chalicelib.domain.core.clock import SYSTEM, iso
from chalicelib.domain.core.errors import Conflict, NotFound
from chalicelib.domain.core.messages import FanoutPage
from chalicelib.domain.core.models import Release
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.releases.ports import PublishStore
from chalicelib.names import UPLOAD_PREFIX
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Blobs, Clock, Queues
    from chalicelib.domain.core.records import Stored


# How long a verified build stays locked (S3 Object Lock): the evidence of what customers were told the SHA-256
# of outlives any support contract that could have downloaded it (docs/deploy.md, "Released builds cannot change").
RETENTION_DAYS = 7 * 365
QUEUEING_LEASE_SECONDS = 60  # outlives a publish call (the API's timeout is 30 s)


def verify_upload(
    table: PublishStore, blobs: Blobs, queues: Queues, key: str, *, clock: Clock = SYSTEM
) -> Release | None:
    """S3 ObjectCreated: the size and SHA-256 must be what the release declared, or nobody hears of it."""
    release = _waiting_for(table, key)
    if release is None:
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
    blobs.retain(key, stored.version_id, until=clock.now() + timedelta(days=RETENTION_DAYS))
    verified = table.transition_release(
        release.release_id,
        from_status=[ReleaseStatus.AWAITING_UPLOAD],
        to_status=ReleaseStatus.AVAILABLE,
        object_version=stored.version_id,
    )
    if verified is None:
        return None
    logger.info("upload verified", extra={"release_id": release.release_id, "version_id": stored.version_id})
    return after_available(table, queues, verified, clock=clock)


def _waiting_for(table: PublishStore, key: str) -> Release | None:
    """The release an uploaded object is for, if it waits for it and its declared SHA-256 is known."""
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
    return release


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


def after_available(table: PublishStore, queues: Queues, release: Release, *, clock: Clock = SYSTEM) -> Release:
    """A release now available: kept back (a draft), scheduled (its time is to come), or published."""
    if release.draft:
        return release
    if release.notify_at and release.notify_at > iso(clock):
        return table.schedule_release(release) or release
    return publish(table, queues, release.release_id, clock=clock)


def publish(
    table: PublishStore, queues: Queues, release_id: str, *, due_by: str | None = None, clock: Clock = SYSTEM
) -> Release:
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
        published_at=iso(clock),
    ) or table.get_release(release_id, consistent=True)
    if release is None:
        raise NotFound(f"Release {release_id} does not exist.")
    if release.status != ReleaseStatus.PUBLISHED:
        raise Conflict(f"Release {release_id} is {release.status} and cannot be published.", code="not_publishable")
    if not release.fanout_at and table.claim_queueing(release_id, "fanout", lease_seconds=QUEUEING_LEASE_SECONDS):
        from chalicelib.domain.announcements import plans as announcements

        release = announcements.on_published(table, release)
        queues.send_fanout_page(FanoutPage(release_id))
        table.mark_queued(release_id, "fanout")
        logger.info("release published", extra={"release_id": release_id})
    return release


def publish_as(table: PublishStore, queues: Queues, who: Identity, release_id: str) -> Release:
    """``publish`` on a release engineer's request (the schedule and a verified upload publish as the system)."""
    who.require_group(RELEASE_ENGINEERS)
    return publish(table, queues, release_id)


def publish_due(table: PublishStore, queues: Queues, *, now: str | None = None, clock: Clock = SYSTEM) -> list[str]:
    """The schedule: publish every scheduled release whose time has come (a page at a time, until none)."""
    published: list[str] = []
    now = now or iso(clock)
    skipped: set[str] = set()
    for _ in range(100):  # bounded: a schedule tick must end well inside its Lambda timeout
        # The index is eventually consistent: a release published (or rescheduled) a moment ago may still be listed.
        due = [r for r in table.due_releases(now) if r not in published and r not in skipped]
        if not due:
            break
        for release_id in due:
            try:
                publish(table, queues, release_id, due_by=now, clock=clock)
            except Conflict:
                logger.warning("due release no longer publishable", extra={"release_id": release_id})
                skipped.add(release_id)
                continue
            published.append(release_id)
    return published
