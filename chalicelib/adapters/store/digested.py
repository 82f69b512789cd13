"""Table adapter part: what became of a notice queued for a digest, as every reader of delivery records sees it.

Fan-out writes a digested recipient's delivery record when it queues the notice (``status: digest``,
``digest: <window bucket>``, and ``late_from: <bucket>`` when it went to a later window), and the runner
writes nothing but one marker per digest (``DIGEST#<bucket>``, ``<account>#<sub>#SENT``: its status, the
releases it listed and those left out as no longer wanted, SES's message id and time). ``settle`` reads the
markers of a page of records in one BatchGet and answers each record as it stands:

- listed by a digest sent (or rejected): ``sent`` (``failed``), with the digest's message id and time;
- left out as no longer wanted: ``skipped``; left out otherwise (yanked before the digest went out):
  ``left-out``, which, like a yanked release's instant notice not sent, counts as nothing;
- no marker yet: still ``digest`` (queued), which no reader counts as notified and no recall recalls.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.store._base import TableBase
from chalicelib.domain.core.states import DeliveryStatus

LEFT_OUT = "left out of the digest: not published when it went out"


def digest_pk(bucket: str) -> str:
    return f"DIGEST#{bucket}"


def marker_sk(account_id: str, subscription_id: str) -> str:
    return f"{account_id}#{subscription_id}#SENT"


def windows(record: dict[str, Any]) -> list[str]:
    """The buckets whose digest may carry a queued record's notice: the one it was first queued for, then
    the later one a retried fan-out page moved it to."""
    return [str(b) for b in (record.get("late_from"), record.get("digest")) if b]


def settle(table: TableBase, release_id: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` (stored items of one release's notice) with each queued-for-digest one as its digest left it."""
    queued = [r for r in records if r.get("status") == DeliveryStatus.DIGEST and r.get("digest")]
    if not queued:
        return records
    keys = [
        (digest_pk(b), marker_sk(str(r["account_id"]), str(r["subscription_id"]))) for r in queued for b in windows(r)
    ]
    markers = {(str(m["PK"]), str(m["SK"])): m for m in table._batch_get(list(dict.fromkeys(keys)), consistent=True)}
    return [settled(r, release_id, markers) for r in records]


def settled(record: dict[str, Any], release_id: str, markers: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    if record.get("status") != DeliveryStatus.DIGEST or not record.get("digest"):
        return record
    sk = marker_sk(str(record["account_id"]), str(record["subscription_id"]))
    for b in windows(record):
        marker = markers.get((digest_pk(b), sk))
        if marker is None:
            continue
        at = marker.get("at", record.get("at"))
        if release_id in (marker.get("releases") or ()):
            status = DeliveryStatus.FAILED if marker.get("status") == DeliveryStatus.FAILED else DeliveryStatus.SENT
            return {
                **record,
                "status": status,
                "message_id": marker.get("message_id"),
                "at": at,
                "detail": f"digest {b}",
            }
        if release_id in (marker.get("skipped") or ()):
            return {**record, "status": DeliveryStatus.SKIPPED, "at": at, "detail": "no longer subscribed"}
        if b == record["digest"]:
            return {**record, "status": DeliveryStatus.LEFT_OUT, "at": at, "detail": LEFT_OUT}
    return record
