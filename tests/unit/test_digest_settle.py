"""How a delivery record queued for a digest reads once markers exist (``store.digested.settled``): listed by a
sent or rejected digest, left out as no longer wanted or as not published, still queued with no marker, and a
record a retried page moved to a later window settled by whichever of its two windows carried it."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.store.digested import LEFT_OUT, settled
from chalicelib.domain.core.states import DeliveryStatus

A, B = "2026-12-01T08:00Z", "2026-12-02T08:00Z"
SK = "acct#s0#SENT"


def _record(**extra: Any) -> dict[str, Any]:
    return {"account_id": "acct", "subscription_id": "s0", "status": "digest", "digest": A, "at": "queued", **extra}


def _marker(bucket: str, **fields: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f"DIGEST#{bucket}", SK): {"status": "sent", "message_id": f"m-{bucket}", "at": f"at-{bucket}", **fields}}


def test_a_record_listed_by_a_sent_digest_reads_sent_with_the_digests_message_id_and_time() -> None:
    got = settled(_record(), "r1", _marker(A, releases=["r1", "r2"]))
    assert (got["status"], got["message_id"], got["at"]) == (DeliveryStatus.SENT, f"m-{A}", f"at-{A}")


def test_a_record_listed_by_a_rejected_digest_reads_failed() -> None:
    assert settled(_record(), "r1", _marker(A, status="failed", releases=["r1"]))["status"] == DeliveryStatus.FAILED


def test_left_out_as_unwanted_or_as_not_published_reads_skipped_and_says_which() -> None:
    unwanted = settled(_record(), "r1", _marker(A, releases=["r2"], skipped=["r1"]))
    yanked = settled(_record(), "r1", _marker(A, releases=["r2"]))
    assert (unwanted["status"], unwanted["detail"]) == (DeliveryStatus.SKIPPED, "no longer subscribed")
    assert (yanked["status"], yanked["detail"]) == (DeliveryStatus.LEFT_OUT, LEFT_OUT)


def test_no_marker_yet_leaves_it_queued_and_other_records_are_untouched() -> None:
    assert settled(_record(), "r1", {})["status"] == DeliveryStatus.DIGEST
    sent = {"account_id": "acct", "subscription_id": "s0", "status": "sent", "message_id": "m"}
    assert settled(sent, "r1", _marker(A, releases=[])) == sent


def test_a_record_moved_to_a_later_window_is_settled_by_the_window_that_carried_it() -> None:
    moved = _record(digest=B, late_from=A)
    assert settled(moved, "r1", {**_marker(A, releases=["r1"]), **_marker(B, releases=["r9"])})["at"] == f"at-{A}"
    # its first window's digest went out without it (never queued there): the later window decides
    assert settled(moved, "r1", _marker(A, releases=["r9"]))["status"] == DeliveryStatus.DIGEST
    assert settled(moved, "r1", {**_marker(A, releases=["r9"]), **_marker(B, releases=["r1"])})["at"] == f"at-{B}"
