"""Table adapter part: subscriptions and the audience index fan-out reads."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.entitlements import TIERS
from chalicelib.errors import Conflict, NotFound
from chalicelib.models import Subscription, now_iso
from chalicelib.store._base import TableBase, decode_cursor, dump, encode_cursor, is_error, key, load


class SubscriptionsMixin(TableBase):
    # -- subscriptions ----------------------------------------------------------------------------
    def put_pending_subscription(self, sub: Subscription, *, expires_at: int) -> None:
        item = _subscription_item(sub)
        item["expires_at"] = expires_at  # DynamoDB TTL removes pending items nobody confirmed
        self._db.put_item(TableName=self.name, Item=dump(item), ConditionExpression="attribute_not_exists(PK)")

    def get_subscription(
        self, account_id: str, subscription_id: str, *, consistent: bool = True
    ) -> Subscription | None:
        got = self._db.get_item(
            TableName=self.name,
            Key=key(f"ACCOUNT#{account_id}", f"SUB#{subscription_id}"),
            ConsistentRead=consistent,
        ).get("Item")
        return _subscription(load(got)) if got else None

    def activate_subscription(self, account_id: str, subscription_id: str, *, tier: str) -> Subscription:
        """pending -> active, and the audience entries fan-out queries, in one transaction."""
        sub = self.get_subscription(account_id, subscription_id)
        if sub is None:
            raise NotFound("This subscription does not exist or its confirmation link has expired.")
        if sub.status == "active":
            return sub
        confirmed = now_iso()
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.name,
                    "Key": key(f"ACCOUNT#{account_id}", f"SUB#{subscription_id}"),
                    "UpdateExpression": "SET #s = :active, confirmed_at = :t REMOVE expires_at",
                    "ConditionExpression": "#s = :pending",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": dump({":active": "active", ":pending": "pending", ":t": confirmed}),
                }
            }
        ]
        for product in sub.products:
            actions.append({"Put": {"TableName": self.name, "Item": dump(_audience_item(sub, product, tier))}})
        try:
            self._db.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as exc:
            if is_error(exc, "TransactionCanceledException"):
                raise Conflict("This subscription can no longer be confirmed.") from exc
            raise
        return self.get_subscription(account_id, subscription_id) or sub

    def audience_page(self, product: str, *, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a product's active audience, Elite first (GSI1SK starts with the tier rank)."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": dump({":pk": f"AUDIENCE#{product}"}),
            "Limit": limit,
        }
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self._db.query(**kwargs)
        return [load(i) for i in page.get("Items", [])], encode_cursor(page.get("LastEvaluatedKey"))


def _audience_item(sub: Subscription, product: str, tier: str) -> dict[str, Any]:
    return {
        "PK": f"ACCOUNT#{sub.account_id}",
        "SK": f"SUB#{sub.subscription_id}#P#{product}",
        "GSI1PK": f"AUDIENCE#{product}",
        "GSI1SK": f"{TIERS[tier].rank}#{sub.account_id}#{sub.subscription_id}",
        "type": "audience",
        "account_id": sub.account_id,
        "subscription_id": sub.subscription_id,
        "email": sub.email,
        "tier": tier,
        "kinds": list(sub.kinds),
        "channels": list(sub.channels),
        "max_severity": sub.max_severity,
    }


def _subscription_item(s: Subscription) -> dict[str, Any]:
    return {
        "PK": f"ACCOUNT#{s.account_id}",
        "SK": f"SUB#{s.subscription_id}",
        "GSI2PK": f"EMAIL#{s.email.lower()}",
        "GSI2SK": f"{s.account_id}#{s.subscription_id}",
        "type": "subscription",
        "account_id": s.account_id,
        "subscription_id": s.subscription_id,
        "email": s.email,
        "products": list(s.products),
        "kinds": list(s.kinds),
        "max_severity": s.max_severity,
        "channels": list(s.channels),
        "status": s.status,
        "created_at": s.created_at,
        "confirmed_at": s.confirmed_at,
    }


def _subscription(i: dict[str, Any]) -> Subscription:
    return Subscription(
        account_id=i["account_id"],
        subscription_id=i["subscription_id"],
        email=i["email"],
        products=tuple(i["products"]),
        kinds=tuple(i["kinds"]),
        max_severity=int(i["max_severity"]),
        channels=tuple(i["channels"]),
        status=i["status"],
        created_at=i["created_at"],
        confirmed_at=i.get("confirmed_at"),
    )
