"""Table adapter part: delivery batches and records, and the download audit."""

from __future__ import annotations

import time
from collections.abc import Sequence

from botocore.exceptions import ClientError

from chalicelib.models import DeliveryOutcome, Recipient, Subscription, now_iso
from chalicelib.store._base import TableBase, dump, is_error, key
from chalicelib.store.subscriptions import _subscription


class DeliveriesMixin(TableBase):
    # -- delivery ---------------------------------------------------------------------------------
    def claim_batch(self, release_id: str, batch_id: str, *, lease_seconds: int) -> str:
        """Take a batch for this invocation: ``claimed``, ``done`` (finished earlier) or ``busy`` (held elsewhere)."""
        now = int(time.time())
        try:
            self._db.update_item(
                TableName=self.name,
                Key=key(f"RELEASE#{release_id}", f"BATCH#{batch_id}"),
                UpdateExpression="SET lease_until = :until, attempts = if_not_exists(attempts, :zero) + :one",
                ConditionExpression="attribute_not_exists(PK) OR (attribute_not_exists(done_at) AND lease_until < :now)",
                ExpressionAttributeValues=dump({":until": now + lease_seconds, ":now": now, ":zero": 0, ":one": 1}),
            )
        except ClientError as exc:
            if not is_error(exc, "ConditionalCheckFailedException"):
                raise
            got = self._db.get_item(
                TableName=self.name, Key=key(f"RELEASE#{release_id}", f"BATCH#{batch_id}"), ConsistentRead=True
            ).get("Item")
            return "done" if got and "done_at" in got else "busy"
        return "claimed"

    def finish_batch(self, release_id: str, batch_id: str, counts: dict[str, int]) -> None:
        self._db.update_item(
            TableName=self.name,
            Key=key(f"RELEASE#{release_id}", f"BATCH#{batch_id}"),
            UpdateExpression="SET done_at = :t, counts = :c REMOVE lease_until",
            ExpressionAttributeValues=dump({":t": now_iso(), ":c": counts}),
        )

    def recheck(
        self, release_id: str, notice: str, recipients: Sequence[Recipient]
    ) -> tuple[dict[str, Subscription], set[str]]:
        """Consistent read of each recipient's subscription and of this notice's deliveries already recorded.

        Returns subscriptions by ``account#sub`` and the keys of recipients already done (any outcome).
        """
        keys: list[tuple[str, str]] = []
        for r in recipients:
            keys.append((f"ACCOUNT#{r.account_id}", f"SUB#{r.subscription_id}"))
            keys.append((f"RELEASE#{release_id}", f"DELIVERY#{notice}#{r.key}"))
        subs: dict[str, Subscription] = {}
        sent: set[str] = set()
        for item in self._batch_get(keys, consistent=True):
            if item.get("type") == "subscription":
                sub = _subscription(item)
                subs[f"{sub.account_id}#{sub.subscription_id}"] = sub
            elif item.get("type") == "delivery":
                sent.add(str(item["recipient"]))
        return subs, sent

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
