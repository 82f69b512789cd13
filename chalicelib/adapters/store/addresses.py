"""Table adapter part: the address items that allow an account one pending or active subscription per address.

An address item (``SK=ADDRESS#<address>``, naming the subscription) is written in the same transaction as the
pending subscription (with the confirmation counters' guards), on the condition that none exists (or the one
there belongs to a pending subscription past its confirmation window); it expires with it, stays while it is
active, and goes when it is deleted, unsubscribed or suppressed (``store/subscriptions.py`` joins the keep or
free action below to those transactions).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import TableBase, dump, is_error, key, load
from chalicelib.adapters.store.items import subscription_item
from chalicelib.domain.core.errors import AlreadySubscribed, Conflict, CountersMoved
from chalicelib.domain.core.models import Subscription


class AddressesMixin(TableBase):
    # -- a pending subscription and its address item ----------------------------------------------
    def put_pending_subscription(
        self, sub: Subscription, *, expires_at: int, guards: Sequence[dict[str, Any]] = ()
    ) -> None:
        """The pending subscription and its address item, atomically: ``AlreadySubscribed`` (naming the
        subscription that has the address) when the account already has it, pending or active. ``guards``
        (the confirmation counters) join the transaction; ``CountersMoved`` when one of them fails."""
        item = subscription_item(sub)
        item["expires_at"] = expires_at  # DynamoDB TTL removes pending items nobody confirmed
        address = {**_address_item(sub), "expires_at": expires_at}  # ... and their address items with them
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.name,
                    "Item": dump(address),
                    # TTL deletes within days, not at once: an expired address item is free to take
                    "ConditionExpression": "attribute_not_exists(PK) OR expires_at < :now",
                    "ExpressionAttributeValues": dump({":now": int(time.time())}),
                }
            },
            {"Put": {"TableName": self.name, "Item": dump(item), "ConditionExpression": "attribute_not_exists(PK)"}},
            *guards,
        ]
        try:
            self._db.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as exc:
            if not is_error(exc, "TransactionCanceledException"):
                raise
            reasons = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]  # type: ignore[attr-defined]
            if reasons[:1] != ["ConditionalCheckFailed"] and any(c != "None" for c in reasons[2:]):
                raise CountersMoved("A confirmation counter moved meanwhile; read it again.") from exc
            holder = self.address_holder(sub.account_id, sub.email)
            if holder is None:  # the holder went away in between: the caller may simply try again
                raise Conflict("This address was subscribed at the same time; try again.") from exc
            raise AlreadySubscribed(holder) from exc

    def address_holder(self, account_id: str, address: str) -> str | None:
        """The id of the account's pending or active subscription of ``address`` (normalised), if any."""
        got = self._db.get_item(TableName=self.name, Key=_address_key(account_id, address), ConsistentRead=True)
        item = load(got.get("Item") or {})
        if not item or int(item.get("expires_at") or time.time() + 1) < time.time():
            return None
        return str(item["subscription_id"])

    # -- plumbing ---------------------------------------------------------------------------------
    def _keep_address(self, sub: Subscription) -> dict[str, Any]:
        """Activation: the address item no longer expires (written here for a subscription made before
        address items existed); refused, cancelling the activation, if another subscription holds it."""
        return {
            "Update": {
                "TableName": self.name,
                "Key": _address_key(sub.account_id, sub.email),
                "UpdateExpression": "SET subscription_id = :id, account_id = :a, #t = :type REMOVE expires_at",
                "ConditionExpression": "attribute_not_exists(PK) OR subscription_id = :id",
                "ExpressionAttributeNames": {"#t": "type"},
                "ExpressionAttributeValues": dump(
                    {":id": sub.subscription_id, ":a": sub.account_id, ":type": "address"}
                ),
            }
        }

    def _free_address(self, sub: Subscription) -> list[dict[str, Any]]:
        """The delete of the address item if this subscription holds it (read first: a conditional delete
        that fails would cancel the whole transaction, and another subscription may hold it)."""
        if self.address_holder(sub.account_id, sub.email) != sub.subscription_id:
            return []
        return [
            {
                "Delete": {
                    "TableName": self.name,
                    "Key": _address_key(sub.account_id, sub.email),
                    "ConditionExpression": "subscription_id = :id",
                    "ExpressionAttributeValues": dump({":id": sub.subscription_id}),
                }
            }
        ]


def _address_key(account_id: str, address: str) -> dict[str, Any]:
    return key(f"ACCOUNT#{account_id}", f"ADDRESS#{address}")


def _address_item(sub: Subscription) -> dict[str, Any]:
    return {
        "PK": f"ACCOUNT#{sub.account_id}",
        "SK": f"ADDRESS#{sub.email}",
        "type": "address",
        "account_id": sub.account_id,
        "subscription_id": sub.subscription_id,
    }
