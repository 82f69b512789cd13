"""Table adapter part: subscriptions and the audience index fan-out reads.

A subscription's audience entries (one per product, on GSI1) exist exactly while it is active, and
every change of status or preferences rewrites them in the same transaction as the subscription,
guarded by the subscription's revision so two concurrent changes cannot leave stale entries.

An account has at most one pending or active subscription per address: an address item
(``SK=ADDRESS#<address>``, naming the subscription) is written in the same transaction as the pending
subscription, on the condition that none exists (or the one there belongs to a pending subscription
past its confirmation window); it expires with it, stays while it is active, and goes when it is
deleted, unsubscribed or suppressed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.errors import AlreadySubscribed, Conflict, NotFound
from chalicelib.models import Subscription, now_iso
from chalicelib.records import AudienceEntry
from chalicelib.states import HOLDING, SubscriptionStatus
from chalicelib.store._base import TableBase, dump, encode_cursor, is_error, key, load
from chalicelib.store.confirmations import CountersMoved
from chalicelib.store.items import account_of, audience_entry_of, audience_item, subscription_item, subscription_of

_RETRIES = 3
SYNC_PAGE = 100  # items (subscriptions and their audience entries) per account-change message

# The audience entry fields fan-out's planning reads (``fanout.eligible``, ``plan_accounts``).
_PLANNED = ("account_id", "subscription_id", "email", "kinds", "max_severity", "channels", "installed", "digest")


class SubscriptionsMixin(TableBase):
    # -- subscriptions ----------------------------------------------------------------------------
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
        entries = _entries(active, tier, contract_products)
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
            },  # fmt: skip
            require_status=old.status,
        )
        new = dataclasses.replace(old, products=changed.products, kinds=changed.kinds,
                                  max_severity=changed.max_severity, channels=changed.channels,
                                  installed=changed.installed, digest=changed.digest)  # fmt: skip
        actions = [update]
        if old.status == SubscriptionStatus.ACTIVE:
            entries = _entries(new, tier, contract_products)
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
                    **_rev_condition(rev),
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

    def sync_audience(self, account_id: str, *, cursor: str | None = None, limit: int | None = None) -> str | None:
        """Bring one page of an account's audience entries in line with its contract as stored now (tier
        rank, products); returns the cursor of the next page (None: done). Idempotent. Each subscription's
        rewrite is one transaction that also checks the contract is still the one read, so a sync running
        behind a newer change cannot write the older rank (it fails, and its message is retried)."""
        got = self._db.get_item(TableName=self.name, Key=key(f"ACCOUNT#{account_id}", "CONTRACT"), ConsistentRead=True)
        if "Item" not in got:
            return None
        contract = load(got["Item"])
        account = account_of(contract)
        items, following = self._subscription_groups(account_id, cursor, limit or SYNC_PAGE)
        existing: dict[str, dict[str, dict[str, Any]]] = {}
        for i in items:
            if i.get("type") == "audience":
                existing.setdefault(i["subscription_id"], {})[i["SK"]] = i
        same_contract = {
            "ConditionCheck": {
                "TableName": self.name,
                "Key": key(f"ACCOUNT#{account_id}", "CONTRACT"),
                "ConditionExpression": "#h = :h",
                "ExpressionAttributeNames": {"#h": "digest"},
                "ExpressionAttributeValues": dump({":h": contract.get("digest", "")}),
            }
        }
        for raw in (i for i in items if i.get("type") == "subscription"):
            sub = subscription_of(raw)
            have = existing.pop(sub.subscription_id, {})
            active = sub.status == SubscriptionStatus.ACTIVE
            want = {e["SK"]: e for e in _entries(sub, account.tier, account.products)} if active else {}
            puts = [e for sk, e in want.items() if {k: have.get(sk, {}).get(k) for k in e} != e]
            deletes = [sk for sk in have if sk not in want]
            if puts or deletes:
                actions: list[dict[str, Any]] = [
                    same_contract,
                    {
                        "ConditionCheck": {
                            "TableName": self.name,
                            "Key": key(raw["PK"], raw["SK"]),
                            **_rev_condition(int(raw.get("rev", 0))),
                        }
                    },
                ]
                actions += [{"Put": {"TableName": self.name, "Item": dump(e)}} for e in puts]
                actions += [{"Delete": {"TableName": self.name, "Key": key(raw["PK"], sk)}} for sk in deletes]
                self._transact(actions, "A subscription or its contract changed during the sync; it is retried.")
        for orphans in existing.values():  # entries whose subscription is gone
            for sk in orphans:
                self._db.delete_item(TableName=self.name, Key=key(f"ACCOUNT#{account_id}", sk))
        return following

    def _subscription_groups(
        self, account_id: str, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of an account's subscriptions with their audience entries (which sort right after their
        subscription), never splitting one subscription's items across pages; and the next page's cursor."""
        items: list[dict[str, Any]] = []
        while True:
            page, cursor = self._page(
                limit=limit,
                cursor=cursor,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
                ExpressionAttributeValues=dump({":pk": f"ACCOUNT#{account_id}", ":sk": "SUB#"}),
                ConsistentRead=True,
            )
            items += page
            if cursor is None:
                return items, None
            last = items[-1]["subscription_id"]
            complete = [i for i in items if i["subscription_id"] != last]
            if complete:  # the last subscription may go on in the next page: it starts the next page instead
                return complete, encode_cursor(key(complete[-1]["PK"], complete[-1]["SK"]))

    def audience_page(
        self, product: str, *, limit: int, cursor: str | None, planning_only: bool = False
    ) -> tuple[list[AudienceEntry], str | None]:
        """One page of a product's active audience, Elite first (GSI1SK starts with the tier rank).
        ``planning_only``: just what fan-out's planning reads (the audience preview: less to parse per page)."""
        projection = {"ProjectionExpression": ", ".join(f"#p{i}" for i in range(len(_PLANNED))),
                      "ExpressionAttributeNames": {f"#p{i}": f for i, f in enumerate(_PLANNED)}}  # fmt: skip
        items, following = self._page(
            limit=limit,
            cursor=cursor,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues=dump({":pk": f"AUDIENCE#{product}"}),
            **(projection if planning_only else {}),
        )
        return [audience_entry_of(i) for i in items], following

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
        cond = _rev_condition(rev)
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

    def _transact(self, actions: list[dict[str, Any]], conflict: str) -> None:
        try:
            self._db.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as exc:
            if is_error(exc, "TransactionCanceledException"):
                raise Conflict(conflict) from exc
            raise


def _rev_condition(rev: int) -> dict[str, Any]:
    if rev == 0:  # written before revisions, or never changed since
        return {"ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(rev)"}
    return {"ConditionExpression": "rev = :rev", "ExpressionAttributeValues": dump({":rev": rev})}


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


def _entry_key(sub: Subscription, product: str) -> dict[str, Any]:
    return key(f"ACCOUNT#{sub.account_id}", f"SUB#{sub.subscription_id}#P#{product}")


def _entries(sub: Subscription, tier: str, contract_products: Iterable[str] | None) -> list[dict[str, Any]]:
    """The audience entries of an active subscription: one per product it wants that the contract has."""
    allowed = set(sub.products if contract_products is None else contract_products)
    return [audience_item(sub, product, tier) for product in sub.products if product in allowed]
