"""Table adapter part: addresses SES told us never to email again, and transient bounce counts."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.models import Subscription, now_iso
from chalicelib.states import SubscriptionStatus
from chalicelib.store._base import dump, key, load
from chalicelib.store.subscriptions import SubscriptionsMixin

TRANSIENT_COUNT_DAYS = 90  # a transient bounce counter forgets after this long (DynamoDB TTL)


class SuppressionsMixin(SubscriptionsMixin):
    def suppress_address(self, address: str, *, reason: str, detail: str, feedback_id: str) -> list[Subscription]:
        """Record the suppression, then turn off every subscription of the address (GSI2); returns them."""
        addr = address.lower()
        self._db.put_item(
            TableName=self.name,
            Item=dump(
                {
                    "PK": f"SUPPRESSED#{addr}",
                    "SK": "SUPPRESSION",
                    "type": "suppression",
                    "email": addr,
                    "reason": reason,
                    "detail": detail[:500],
                    "feedback_id": feedback_id[:200],
                    "at": now_iso(),
                }
            ),
        )
        turned: list[Subscription] = []
        for ref in self._subscriptions_of(addr):
            sub = self.turn_off_subscription(ref["account_id"], ref["subscription_id"], SubscriptionStatus.SUPPRESSED)
            if sub is not None and sub.status == SubscriptionStatus.SUPPRESSED:
                turned.append(sub)
        return turned

    def suppression(self, address: str) -> dict[str, Any] | None:
        got = self._db.get_item(
            TableName=self.name, Key=key(f"SUPPRESSED#{address.lower()}", "SUPPRESSION"), ConsistentRead=True
        ).get("Item")
        return load(got) if got else None

    def count_transient_bounce(self, address: str) -> int:
        got = self._db.update_item(
            TableName=self.name,
            Key=key(f"BOUNCES#{address.lower()}", "TRANSIENT"),
            UpdateExpression="ADD #n :one SET last_at = :t, expires_at = :exp, #type = :type",
            ExpressionAttributeNames={"#n": "count", "#type": "type"},
            ExpressionAttributeValues=dump(
                {
                    ":one": 1,
                    ":t": now_iso(),
                    ":exp": int(time.time()) + TRANSIENT_COUNT_DAYS * 86400,
                    ":type": "transient_bounces",
                }  # fmt: skip
            ),
            ReturnValues="UPDATED_NEW",
        )
        return int(got["Attributes"]["count"]["N"])

    def _subscriptions_of(self, address: str) -> list[dict[str, Any]]:
        return list(
            self._query(
                IndexName="GSI2",
                KeyConditionExpression="GSI2PK = :pk",
                ExpressionAttributeValues=dump({":pk": f"EMAIL#{address}"}),
            )
        )
