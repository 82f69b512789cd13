"""Table adapter part: delivery batches and records, and the download audit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.models import DeliveryOutcome, Recipient, Release, Subscription, now_iso
from chalicelib.store._base import TableBase, dump, is_error, key, load
from chalicelib.store.releases import _release
from chalicelib.store.reports import tally_update, transact
from chalicelib.store.subscriptions import _subscription


class DeliveriesMixin(TableBase):
    # -- delivery ---------------------------------------------------------------------------------
    def claim_batch(
        self, release_id: str, batch_id: str, *, lease_seconds: int, queue: str = "", body: dict[str, Any] | None = None
    ) -> str:
        """Take a batch for this invocation: ``claimed``, ``done`` (finished earlier) or ``busy`` (held elsewhere).

        The claim keeps the message (``queue`` and ``body``) and sits in the in-flight index until it is
        finished, so the reconciler can rebuild and re-drive a batch whose invocation died.
        """
        now = int(time.time())
        values = {":until": now + lease_seconds, ":now": now, ":zero": 0, ":one": 1, ":q": queue,
                  ":b": json.dumps(body or {}, separators=(",", ":")), ":gpk": _INFLIGHT,
                  ":gsk": _inflight_sk(now + lease_seconds, release_id, batch_id)}  # fmt: skip
        try:
            self._db.update_item(
                TableName=self.name,
                Key=key(f"RELEASE#{release_id}", f"BATCH#{batch_id}"),
                UpdateExpression="SET lease_until = :until, attempts = if_not_exists(attempts, :zero) + :one, "
                "queue_name = :q, body = :b, GSI1PK = :gpk, GSI1SK = :gsk",
                ConditionExpression="attribute_not_exists(PK) OR (attribute_not_exists(done_at) AND lease_until < :now)",
                ExpressionAttributeValues=dump(values),
            )
        except ClientError as exc:
            if not is_error(exc, "ConditionalCheckFailedException"):
                raise
            got = self._db.get_item(
                TableName=self.name, Key=key(f"RELEASE#{release_id}", f"BATCH#{batch_id}"), ConsistentRead=True
            ).get("Item")
            return "done" if got and "done_at" in got else "busy"
        return "claimed"

    def finish_batch(
        self, release_id: str, batch_id: str, counts: dict[str, int], *, tally: Mapping[str, int] | None = None
    ) -> bool:
        """Mark a claimed batch (``<notice>#<batch>``) done and add its ``tally`` (``<tier>#<role>#<status>``
        counts) to the report's counters, in one transaction that only applies while the batch is not done:
        a batch finished twice (a re-drive racing a slow invocation) counts once. False if it was done."""
        finish: dict[str, Any] = {
            "TableName": self.name,
            "Key": key(f"RELEASE#{release_id}", f"BATCH#{batch_id}"),
            "UpdateExpression": "SET done_at = :t, counts = :c REMOVE lease_until, GSI1PK, GSI1SK, body",
            "ConditionExpression": "attribute_not_exists(done_at)",
            "ExpressionAttributeValues": dump({":t": now_iso(), ":c": counts}),
        }
        if not any((tally or {}).values()):
            try:
                self._db.update_item(**finish)
            except ClientError as exc:
                if is_error(exc, "ConditionalCheckFailedException"):
                    return False
                raise
            return True
        notice = batch_id.split("#", 1)[0]
        bump = tally_update(self.name, release_id, notice, batch_id, tally or {})
        return transact(self._db, [{"Update": finish}, bump]) is None

    def batch_states(self, release_id: str, batch_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Claims of some batches by id (consistent): ``done`` and the ``counts`` they finished with."""
        keys = [(f"RELEASE#{release_id}", f"BATCH#{b}") for b in batch_ids]
        return {
            str(i["SK"]).removeprefix("BATCH#"): {"done": "done_at" in i, "counts": i.get("counts", {})}
            for i in self._batch_get(keys, consistent=True)
        }

    def stuck_batches(self, now: int, *, limit: int = 100) -> list[dict[str, Any]]:
        """Claims whose lease ran out before they finished (in-flight index, oldest first, one page)."""
        got = self._db.query(
            TableName=self.name,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk AND GSI1SK < :now",
            ExpressionAttributeValues=dump({":pk": _INFLIGHT, ":now": f"{now:012d}"}),
            Limit=limit,
        )
        return [
            {
                "release_id": str(i["PK"]).removeprefix("RELEASE#"),
                "batch_id": str(i["SK"]).removeprefix("BATCH#"),
                "check": i["GSI1SK"],
                "queue": i.get("queue_name", ""),
                "body": json.loads(i.get("body") or "{}"),
                "redrives": int(i.get("redrives", 0)),
            }
            for i in map(load, got.get("Items", []))
        ]

    def mark_redriven(self, stuck: dict[str, Any], *, next_check: int) -> bool:
        """Push a stuck claim's next check out (and count the re-drive); False if someone else moved it."""
        release_id, batch_id = stuck["release_id"], stuck["batch_id"]
        try:
            self._db.update_item(
                TableName=self.name,
                Key=key(f"RELEASE#{release_id}", f"BATCH#{batch_id}"),
                UpdateExpression="SET GSI1SK = :next, redrives = if_not_exists(redrives, :zero) + :one",
                ConditionExpression="attribute_not_exists(done_at) AND GSI1SK = :old",
                ExpressionAttributeValues=dump(
                    {
                        ":next": _inflight_sk(next_check, release_id, batch_id),
                        ":old": stuck["check"],
                        ":zero": 0,
                        ":one": 1,
                    }  # fmt: skip
                ),
            )
        except ClientError as exc:
            if is_error(exc, "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def delivery_context(
        self, release_id: str, notice: str, recipients: Sequence[Recipient]
    ) -> tuple[Release | None, dict[str, Subscription], set[str], set[str]]:
        """One consistent BatchGet: the release, each subscriber's subscription, this notice's deliveries
        already recorded, and which role-copy addresses (on-call, CSM) are suppressed.

        Subscribers' suppression shows in their subscription's status (feedback turns it off); only the
        role copies, which have no subscription, need the suppression list itself.
        """
        keys: list[tuple[str, str]] = [(f"RELEASE#{release_id}", "RELEASE")]
        for r in recipients:
            keys.append((f"RELEASE#{release_id}", f"DELIVERY#{notice}#{r.key}"))
            if r.role == "subscriber":
                keys.append((f"ACCOUNT#{r.account_id}", f"SUB#{r.subscription_id}"))
            else:
                keys.append((f"SUPPRESSED#{r.email.lower()}", "SUPPRESSION"))
        release: Release | None = None
        subs: dict[str, Subscription] = {}
        sent: set[str] = set()
        suppressed: set[str] = set()
        for item in self._batch_get(list(dict.fromkeys(keys)), consistent=True):
            if item.get("type") == "subscription":
                sub = _subscription(item)
                subs[f"{sub.account_id}#{sub.subscription_id}"] = sub
            elif item.get("type") == "delivery":
                sent.add(str(item["recipient"]))
            elif item.get("type") == "release":
                release = _release(item)
            elif str(item["PK"]).startswith("SUPPRESSED#"):
                suppressed.add(str(item["PK"]).removeprefix("SUPPRESSED#"))
        return release, subs, sent, suppressed

    def suppressed(self, addresses: Sequence[str]) -> set[str]:
        """Which of these addresses are on the suppression list (lower-cased). Issue 3 owns the list."""
        keys = [(f"SUPPRESSED#{a.lower()}", "SUPPRESSION") for a in dict.fromkeys(addresses)]
        return {str(i["PK"]).removeprefix("SUPPRESSED#") for i in self._batch_get(keys, consistent=True)}

    def account_deliveries(self, release_id: str, notice: str, account_id: str) -> Iterator[dict[str, Any]]:
        """The recorded outcomes of one account's recipients of a notice (their keys start with the account)."""
        yield from self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=dump({":pk": f"RELEASE#{release_id}", ":sk": f"DELIVERY#{notice}#{account_id}#"}),
            ConsistentRead=True,
        )

    def record_deliveries(self, release_id: str, notice: str, outcomes: Sequence[DeliveryOutcome]) -> None:
        at = now_iso()
        self._batch_write(
            [
                {
                    "PK": f"RELEASE#{release_id}",
                    "SK": f"DELIVERY#{notice}#{o.recipient.key}",
                    "type": "delivery",
                    "notice": notice,
                    "recipient": o.recipient.key,
                    "account_id": o.recipient.account_id,
                    "subscription_id": o.recipient.subscription_id,
                    "email": o.recipient.email,
                    "tier": o.recipient.tier,
                    "role": o.recipient.role,
                    "status": o.status,
                    "message_id": o.message_id,
                    "detail": o.detail,
                    "at": at,
                }
                for o in outcomes
            ]
        )


_INFLIGHT = "INFLIGHT"


def _inflight_sk(check_at: int, release_id: str, batch_id: str) -> str:
    return f"{check_at:012d}#{release_id}#{batch_id}"
