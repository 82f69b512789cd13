"""Table adapter part: addresses SES told us never to email again, and transient bounce counts."""

from __future__ import annotations

import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import dump, is_error, key, load
from chalicelib.adapters.store.subscriptions import SubscriptionsMixin
from chalicelib.domain.core.errors import Conflict
from chalicelib.domain.core.models import Subscription, now_iso
from chalicelib.domain.core.states import SubscriptionStatus

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

    def lift_suppression(self, address: str, *, by: str) -> dict[str, Any] | None:
        """End the address's suppression and keep an audit record of it (who, when, what was lifted), in one
        transaction; the record, or None when the address is not suppressed. Its subscriptions stay off."""
        addr = address.lower()
        current = self.suppression(addr)
        if current is None:
            return None
        at = now_iso()
        record = {
            "PK": f"SUPPRESSED#{addr}",
            "SK": f"LIFTED#{at}#{uuid.uuid4().hex[:8]}",
            "type": "suppression_lift",
            "email": addr,
            "reason": current.get("reason"),
            "detail": current.get("detail"),
            "suppressed_at": current.get("at"),
            "lifted_at": at,
            "lifted_by": by[:200],
        }
        actions: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self.name,
                    "Key": key(f"SUPPRESSED#{addr}", "SUPPRESSION"),
                    # the suppression read, not a newer one recorded meanwhile (that one stays until lifted)
                    "ConditionExpression": "#at = :at",
                    "ExpressionAttributeNames": {"#at": "at"},
                    "ExpressionAttributeValues": dump({":at": current.get("at")}),
                }
            },
            {"Put": {"TableName": self.name, "Item": dump(record)}},
        ]
        try:
            self._db.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as exc:
            if not is_error(exc, "TransactionCanceledException"):
                raise
            raise Conflict("This suppression changed while it was being lifted; try again.") from exc
        return {k: v for k, v in record.items() if k not in ("PK", "SK", "type")}

    def suppression_lifts(self, address: str) -> list[dict[str, Any]]:
        """The audit records of the address's lifted suppressions, oldest first."""
        items = self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=dump({":pk": f"SUPPRESSED#{address.lower()}", ":sk": "LIFTED#"}),
            ConsistentRead=True,
        )
        return [{k: v for k, v in i.items() if k not in ("PK", "SK", "type")} for i in items]

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
                }
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
