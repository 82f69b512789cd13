"""Yanking a release: downloads stop (410 with the reason), and a recall notice goes to everyone the
release notice reached, planned page by page from the recorded deliveries on the fan-out queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import validation as v
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.fanout import BATCH_SIZE, FanoutQueues
from chalicelib.models import Recipient, Release, now_iso
from chalicelib.observability import logger

if TYPE_CHECKING:  # adapters (and boto3 under them) load when wiring makes them, not at import
    from chalicelib.queues import Queues
    from chalicelib.store import Table


RECALL = "recall"  # the fan-out message kind, and the notice kind delivery sends
PAGE_SIZE = 500
_YANKABLE = ["awaiting-upload", "available", "scheduled", "published"]


def yank(table: Table, queues: Queues, fanout_queue: str, release_id: str, body: dict[str, Any]) -> Release:
    v.reject_unknown(body, ("reason", "superseded_by"))
    reason = v.text(body, "reason", max_len=500)
    superseded_by = v.identifier(body, "superseded_by", required=False)
    release = table.get_release(release_id, consistent=True)
    if release is None:
        raise NotFound(f"Release {release_id} does not exist.")
    successor = None
    if superseded_by is not None:
        successor = table.get_release(superseded_by)
        if successor is None or superseded_by == release_id:
            raise BadRequest(f"Field 'superseded_by' names no other release ({superseded_by}).", code="invalid_field")
    if release.status == "yanked":
        return _queue_recall(table, queues, fanout_queue, release)  # idempotent; finishes a recall not yet queued
    fields: dict[str, Any] = {"reason": reason, "yanked_at": now_iso()}
    if successor is not None:
        fields.update(superseded_by=successor.release_id, superseded_version=successor.version)
    yanked = table.transition_release(release_id, from_status=_YANKABLE, to_status="yanked", **fields)
    if yanked is None:
        current = table.get_release(release_id, consistent=True)
        if current is not None and current.status == "yanked":
            return _queue_recall(table, queues, fanout_queue, current)
        raise Conflict(f"Release {release_id} is {release.status} and cannot be yanked.", code="not_yankable")
    logger.info("release yanked", extra={"release_id": release_id})
    return _queue_recall(table, queues, fanout_queue, yanked)


def _queue_recall(table: Table, queues: Queues, fanout_queue: str, release: Release) -> Release:
    """Queue the recall's first page once, and only if the release notice went out to anyone."""
    if release.fanout_at and not release.recall_at:
        queues.send(fanout_queue, {"kind": RECALL, "release_id": release.release_id, "page": 0, "cursor": None})
        table.mark_queued(release.release_id, "recall")
    return release


def _recipient(item: dict[str, Any]) -> Recipient:
    return Recipient(
        str(item["account_id"]), str(item["subscription_id"]), str(item["email"]), str(item.get("tier", "")),
        str(item.get("role", "subscriber")),
    )  # fmt: skip


def plan_page(table: Table, queues: Queues, names: FanoutQueues, message: dict[str, Any]) -> int:
    """One page of the release notice's deliveries -> recall batches of <= 50 of those it reached.

    Batch ids derive from the page number and position, so a retried page yields the same batches and
    delivery's claim keeps them from sending twice.
    """
    release_id = str(message["release_id"])
    page = int(message.get("page", 0))
    release = table.get_release(release_id)
    if release is None or release.status != "yanked":
        return 0
    items, cursor = table.delivery_page(release_id, "release", limit=PAGE_SIZE, cursor=message.get("cursor"))
    reached = [_recipient(i) for i in items if i.get("status") == "sent"]
    batches = [
        {
            "release_id": release_id,
            "notice": RECALL,
            "batch_id": f"{page}-{i // BATCH_SIZE}",
            "recipients": [r.to_message() for r in reached[i : i + BATCH_SIZE]],
        }
        for i in range(0, len(reached), BATCH_SIZE)
    ]
    if batches:
        queues.send_many(names.for_release(release), batches)
    if cursor:
        queues.send(names.fanout, {"kind": RECALL, "release_id": release_id, "page": page + 1, "cursor": cursor})
    logger.info("recall page", extra={"release_id": release_id, "page": page, "recipients": len(reached)})
    return len(reached)
