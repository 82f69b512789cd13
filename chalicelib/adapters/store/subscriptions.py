"""Table adapter part: subscriptions, their preferences and their status (confirmed, changed, turned off, deleted).

A subscription's audience entries (one per product, on GSI1) exist exactly while it is active, and
every change of status or preferences rewrites them in the same transaction as the subscription,
guarded by the subscription's revision so two concurrent changes cannot leave stale entries. The address
item that allows one subscription per address is kept or freed in the same transactions
(``store/addresses.py``, which also writes the pending subscription).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

from chalicelib.adapters.store._base import dump, key, load, rev_condition
from chalicelib.adapters.store.addresses import AddressesMixin
from chalicelib.adapters.store.items import audience_items, subscription_item, subscription_of
from chalicelib.domain.core.errors import Conflict, NotFound
from chalicelib.domain.core.models import Subscription, now_iso
from chalicelib.domain.core.states import HOLDING, SubscriptionStatus

_RETRIES = 3


class SubscriptionsMixin(AddressesMixin):
    # -- subscriptions ----------------------------------------------------------------------------
    def get_subscription(
        self, account_id: str, subscription_id: str, *, consistent: bool = True
    ) -> Subscription | None:
        found = self._read_subscription(account_id, subscription_id, consistent=consistent)
        return found[0] if found else None

    def list_subscriptions(self, account_id: str) -> list[Subscription]:
        """An account's subscriptions (not its audience entries, nor pending ones past their expiry)."""
        now = int(time.time())
        items = self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=dump({":pk": f"ACCOUNT#{account_id}", ":sk": "SUB#"}),
            ConsistentRead=True,
        )
        return [
            subscription_of(i)
            for i in items
            if i.get("type") == "subscription" and int(i.get("expires_at") or now + 1) > now
        ]

    def activate_subscription(
        self, account_id: str, subscription_id: str, *, tier: str, contract_products: Iterable[str] | None = None
    ) -> Subscription:
        """pending -> active and the audience entries fan-out queries, in one transaction, refused while the
        address is suppressed."""
        found = self._read_subscription(account_id, subscription_id)
        if found is None:
            raise NotFound("This subscription does not exist or its confirmation link has expired.")
        sub, rev = found
        if sub.status == SubscriptionStatus.ACTIVE:
            return sub
        active = dataclasses.replace(sub, status=SubscriptionStatus.ACTIVE, confirmed_at=now_iso())
        update = self._sub_update(
            sub,
            rev,
            "SET #s = :active, confirmed_at = :t REMOVE expires_at",
            {":active": SubscriptionStatus.ACTIVE, ":t": active.confirmed_at},
            require_status=SubscriptionStatus.PENDING,
        )
        entries = audience_items(active, tier, contract_products)
        actions = [update, *({"Put": {"TableName": self.name, "Item": dump(e)}} for e in entries)]
        # Only support lifts a suppression (audited): an address suppressed since its link was sent stays off.
        actions.append(
            {
                "ConditionCheck": {
                    "TableName": self.name,
                    "Key": key(f"SUPPRESSED#{sub.email.lower()}", "SUPPRESSION"),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        )
        actions.append(self._keep_address(sub))
        try:
            self._transact(actions, "This subscription can no longer be confirmed.")
        except Conflict:
            # Two clicks of one link (or a mail scanner and a person) race: whoever lost finds it active,
            # which is what both asked for.
            now = self.get_subscription(account_id, subscription_id)
            if now is not None and now.status == SubscriptionStatus.ACTIVE:
                return now
            raise
        return self.get_subscription(account_id, subscription_id) or active

    def change_subscription(
        self, changed: Subscription, *, tier: str, contract_products: Iterable[str]
    ) -> Subscription:
        """New preferences (products, kinds, severity, channels) and their audience entries, atomically."""
        found = self._read_subscription(changed.account_id, changed.subscription_id)
        if found is None:
            raise NotFound(f"Subscription {changed.subscription_id} does not exist.")
        old, rev = found
        update = self._sub_update(
            old,
            rev,
            "SET products = :p, kinds = :k, max_severity = :m, channels = :c, updated_at = :t, digest = :d"
            + (", installed = :i" if changed.installed else " REMOVE installed"),
            {
                ":d": dict(changed.digest),
                ":p": list(changed.products),
                ":k": list(changed.kinds),
                ":m": changed.max_severity,
                ":c": list(changed.channels),
                ":t": now_iso(),
                **({":i": subscription_item(changed)["installed"]} if changed.installed else {}),
            },
            require_status=old.status,
        )
        new = dataclasses.replace(
            old,
            products=changed.products,
            kinds=changed.kinds,
            max_severity=changed.max_severity,
            channels=changed.channels,
            installed=changed.installed,
            digest=changed.digest,
        )
        actions = [update]
        if old.status == SubscriptionStatus.ACTIVE:
            entries = audience_items(new, tier, contract_products)
            keep = {e["SK"] for e in entries}
            actions += [{"Put": {"TableName": self.name, "Item": dump(e)}} for e in entries]
            actions += [
                {"Delete": {"TableName": self.name, "Key": _entry_key(old, p)}}
                for p in old.products
                if _entry_key(old, p)["SK"]["S"] not in keep
            ]
        self._transact(actions, "This subscription was changed at the same time; try again.")
        return new

    def delete_subscription(self, account_id: str, subscription_id: str) -> bool:
        """Remove a subscription and its audience entries; False when there was none."""
        found = self._read_subscription(account_id, subscription_id)
        if found is None:
            return False
        sub, rev = found
        actions: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self.name,
                    "Key": key(f"ACCOUNT#{account_id}", f"SUB#{subscription_id}"),
                    **rev_condition(rev),
                }
            }
        ]
        actions += [{"Delete": {"TableName": self.name, "Key": _entry_key(sub, p)}} for p in sub.products]
        actions += self._free_address(sub)
        self._transact(actions, "This subscription was changed at the same time; try again.")
        return True

    def turn_off_subscription(
        self, account_id: str, subscription_id: str, status: SubscriptionStatus
    ) -> Subscription | None:
        """active or pending -> ``status`` (unsubscribed, suppressed), audience entries removed in the same
        transaction, so the very next fan-out and delivery see it. Idempotent; None if there is none."""
        for _attempt in range(_RETRIES):
            found = self._read_subscription(account_id, subscription_id)
            if found is None:
                return None
            sub, rev = found
            if sub.status not in HOLDING:
                return sub
            update = self._sub_update(
                sub, rev, "SET #s = :off, ended_at = :t", {":off": status, ":t": now_iso()}, require_status=sub.status
            )
            deletes = [{"Delete": {"TableName": self.name, "Key": _entry_key(sub, p)}} for p in sub.products]
            deletes += self._free_address(sub)
            try:
                self._transact([update, *deletes], "changed concurrently")
            except Conflict:
                continue
            return dataclasses.replace(sub, status=status)
        raise Conflict("This subscription keeps changing; try again.")

    # -- plumbing ---------------------------------------------------------------------------------
    def _read_subscription(
        self, account_id: str, subscription_id: str, *, consistent: bool = True
    ) -> tuple[Subscription, int] | None:
        got = self._db.get_item(
            TableName=self.name,
            Key=key(f"ACCOUNT#{account_id}", f"SUB#{subscription_id}"),
            ConsistentRead=consistent,
        ).get("Item")
        if not got:
            return None
        item = load(got)
        return subscription_of(item), int(item.get("rev", 0))

    def _sub_update(
        self, sub: Subscription, rev: int, expression: str, values: dict[str, Any], *, require_status: str
    ) -> dict[str, Any]:
        """The subscription's own update in a transaction: bumps the revision, and only applies to the
        revision and status that were read."""
        cond = rev_condition(rev)
        return {
            "Update": {
                "TableName": self.name,
                "Key": key(f"ACCOUNT#{sub.account_id}", f"SUB#{sub.subscription_id}"),
                "UpdateExpression": expression.replace("SET ", "SET rev = :next, ", 1),
                "ConditionExpression": f"{cond['ConditionExpression']} AND #s = :was",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {
                    **cond.get("ExpressionAttributeValues", {}),
                    **dump({**values, ":next": rev + 1, ":was": require_status}),
                },
            }
        }


def _entry_key(sub: Subscription, product: str) -> dict[str, Any]:
    return key(f"ACCOUNT#{sub.account_id}", f"SUB#{sub.subscription_id}#P#{product}")
