"""Table adapter part: delivery batch claims: a batch taken under a lease (holding its message), finished
with its tally and records in one transaction, failed or given up, and the in-flight index (GSI1
``INFLIGHT``) the reconciler queries for claims whose lease ran out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import dump, is_error, key, load
from chalicelib.adapters.store.deliveries import DeliveriesMixin
from chalicelib.adapters.store.items import batch_state_of, delivery_item, failed_batch_of, stuck_batch_of
from chalicelib.adapters.store.reports import tally_update, transact
from chalicelib.domain.core.models import BatchClaim, DeliveryOutcome, now_iso
from chalicelib.domain.core.records import BatchState, FailedBatch, StuckBatch
from chalicelib.domain.core.states import ClaimStatus


def clock() -> float:
    """Now, for the claims' leases; a seam so a test can let a lease run out without waiting for it."""
    return time.time()


class BatchClaimsMixin(DeliveriesMixin):
    """Finishing a batch writes its delivery records (``DeliveriesMixin``) with the claim."""

    def claim_batch(
        self,
        release_id: str,
        batch_id: str,
        *,
        lease_seconds: int,
        max_attempts: int | None = None,
        queue: str = "",
        body: dict[str, Any] | None = None,
    ) -> BatchClaim:
        """Take a batch for this invocation (``CLAIMED``, with its attempt number), or say why not
        (``models.ClaimStatus``); more than ``max_attempts`` claims are refused (``EXHAUSTED``).

        The claim keeps the message (``queue`` and ``body``) and sits in the in-flight index until it is
        finished, so the reconciler can rebuild and re-drive a batch whose invocation died.
        """
        now = int(clock())
        values = {
            ":until": now + lease_seconds,
            ":now": now,
            ":zero": 0,
            ":one": 1,
            ":q": queue,
            ":b": json.dumps(body or {}, separators=(",", ":")),
            ":gpk": _INFLIGHT,
            ":gsk": _inflight_sk(now + lease_seconds, release_id, batch_id),
        }
        condition = "attribute_not_exists(done_at) AND attribute_not_exists(failed_at) AND lease_until < :now"
        if max_attempts is not None:
            values[":max"] = max_attempts
            condition += " AND attempts < :max"
        try:
            got = self._db.update_item(
                TableName=self.name,
                Key=key(f"RELEASE#{release_id}", f"BATCH#{batch_id}"),
                UpdateExpression="SET lease_until = :until, attempts = if_not_exists(attempts, :zero) + :one, "
                "queue_name = :q, body = :b, GSI1PK = :gpk, GSI1SK = :gsk",
                ConditionExpression=f"attribute_not_exists(PK) OR ({condition})",
                ExpressionAttributeValues=dump(values),
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if not is_error(exc, "ConditionalCheckFailedException"):
                raise
            item = self._db.get_item(
                TableName=self.name, Key=key(f"RELEASE#{release_id}", f"BATCH#{batch_id}"), ConsistentRead=True
            ).get("Item")
            return _refused(load(item) if item else {}, now)
        attempts = int(load(got["Attributes"])["attempts"])
        return BatchClaim(ClaimStatus.CLAIMED, attempts=attempts, lease_until=now + lease_seconds)

    def finish_batch(
        self,
        release_id: str,
        batch_id: str,
        counts: dict[str, int],
        *,
        tally: Mapping[str, int] | None = None,
        records: Sequence[DeliveryOutcome] = (),
    ) -> bool:
        """Mark a claimed batch (``<notice>#<batch>``) done, add its ``tally`` (``<tier>#<role>#<status>``
        counts) to the report's counters and write the delivery ``records`` not written yet (at most a
        chunk: 2 + 24 of a transaction's 100 actions), in one transaction that only applies while the batch
        is not done: a batch finished twice (a re-drive racing a slow invocation) counts once, and its
        records are then written on their own. False if it was done."""
        finish: dict[str, Any] = {
            "TableName": self.name,
            "Key": key(f"RELEASE#{release_id}", f"BATCH#{batch_id}"),
            "UpdateExpression": "SET done_at = :t, counts = :c REMOVE lease_until, GSI1PK, GSI1SK, body",
            "ConditionExpression": "attribute_not_exists(done_at)",
            "ExpressionAttributeValues": dump({":t": now_iso(), ":c": counts}),
        }
        notice = batch_id.split("#", 1)[0]
        if not any((tally or {}).values()) and not records:
            try:
                self._db.update_item(**finish)
            except ClientError as exc:
                if is_error(exc, "ConditionalCheckFailedException"):
                    return False
                raise
            return True
        at = now_iso()
        actions: list[dict[str, Any]] = [{"Update": finish}]
        if any((tally or {}).values()):
            actions.append(tally_update(self.name, release_id, notice, batch_id, tally or {}))
        actions += [
            {"Put": {"TableName": self.name, "Item": dump(delivery_item(release_id, notice, o, at))}} for o in records
        ]
        if transact(self._db, actions) is None:
            return True
        self.record_deliveries(release_id, notice, records)  # done already: what this attempt sent is still kept
        return False

    def note_batch_error(self, release_id: str, batch_id: str, error: str, *, lease_until: int) -> None:
        """A claimed attempt failed: keep why on the claim, and end this invocation's lease early so the
        retry of the same message claims at once instead of finding the batch busy (and re-enqueueing it)."""
        self._update_claim(
            release_id,
            batch_id,
            "SET last_error = :e, lease_until = :zero",
            "lease_until = :mine",  # still ours: another invocation's lease stays
            {":e": error[:1000], ":zero": 0, ":mine": lease_until},
        )

    def fail_batch(self, release_id: str, batch_id: str, error: str) -> None:
        """Give a batch up (its attempts are spent): the error stays on the claim, which leaves the in-flight
        index (the reconciler will not re-drive it) and keeps its message for a human."""
        self._update_claim(
            release_id,
            batch_id,
            "SET failed_at = :t, last_error = :e REMOVE lease_until, GSI1PK, GSI1SK",
            "attribute_exists(PK) AND attribute_not_exists(done_at)",
            {":t": now_iso(), ":e": error[:1000]},
        )

    def failed_batches(self, release_id: str) -> list[FailedBatch]:
        """The release's batches given up, with why."""
        return [failed_batch_of(i) for i in self._failed_claims(release_id)]

    def _failed_claims(self, release_id: str) -> Iterator[dict[str, Any]]:
        """The claims of the release's batches given up.

        One Query over the release's claims (a few hundred bytes each, one per ~49 recipients), filtered.
        """
        return self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            FilterExpression="attribute_exists(failed_at)",
            ProjectionExpression="SK, last_error, attempts",
            ExpressionAttributeValues=dump({":pk": f"RELEASE#{release_id}", ":sk": "BATCH#"}),
        )

    def batch_states(self, release_id: str, batch_ids: Sequence[str]) -> dict[str, BatchState]:
        """Claims of some batches by id (consistent): finished yet, and how many recipients they retried.
        A batch never claimed is missing."""
        keys = [(f"RELEASE#{release_id}", f"BATCH#{b}") for b in batch_ids]
        return {str(i["SK"]).removeprefix("BATCH#"): batch_state_of(i) for i in self._batch_get(keys, consistent=True)}

    def stuck_batches(self, now: int, *, limit: int = 100) -> list[StuckBatch]:
        """Claims whose lease ran out before they finished (in-flight index, oldest first, one page)."""
        got = self._db.query(
            TableName=self.name,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk AND GSI1SK < :now",
            ExpressionAttributeValues=dump({":pk": _INFLIGHT, ":now": f"{now:012d}"}),
            Limit=limit,
        )
        return [stuck_batch_of(i) for i in map(load, got.get("Items", []))]

    def mark_redriven(self, stuck: StuckBatch, *, next_check: int) -> bool:
        """Push a stuck claim's next check out (and count the re-drive); False if someone else moved it."""
        release_id, batch_id = stuck.release_id, stuck.batch_id
        return self._update_claim(
            release_id,
            batch_id,
            "SET GSI1SK = :next, redrives = if_not_exists(redrives, :zero) + :one",
            "attribute_not_exists(done_at) AND GSI1SK = :old",
            {":next": _inflight_sk(next_check, release_id, batch_id), ":old": stuck.check, ":zero": 0, ":one": 1},
        )

    def _update_claim(
        self, release_id: str, batch_id: str, update: str, condition: str, values: dict[str, Any]
    ) -> bool:
        """A conditional update of a batch claim; False (nothing written) when the condition does not hold."""
        try:
            self._db.update_item(
                TableName=self.name,
                Key=key(f"RELEASE#{release_id}", f"BATCH#{batch_id}"),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=dump(values),
            )
        except ClientError as exc:
            if is_error(exc, "ConditionalCheckFailedException"):
                return False
            raise
        return True


_INFLIGHT = "INFLIGHT"


def _refused(item: dict[str, Any], now: int) -> BatchClaim:
    attempts, error = int(item.get("attempts", 0)), str(item.get("last_error", ""))
    if "done_at" in item:
        return BatchClaim(ClaimStatus.DONE, attempts)
    if "failed_at" in item:
        return BatchClaim(ClaimStatus.FAILED, attempts, error)
    if int(item.get("lease_until", 0)) >= now:
        return BatchClaim(ClaimStatus.BUSY, attempts, error)
    return BatchClaim(ClaimStatus.EXHAUSTED, attempts, error)


def _inflight_sk(check_at: int, release_id: str, batch_id: str) -> str:
    return f"{check_at:012d}#{release_id}#{batch_id}"
