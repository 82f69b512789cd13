"""Table adapter part: the audience index (GSI1, ``AUDIENCE#<product>``, tier order) that fan-out pages through,
and the account-change sync that brings an account's audience entries in line with its contract, a page of
subscriptions per message (``store/subscriptions.py`` writes the entries with each change of a subscription).
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.store._base import TableBase, dump, encode_cursor, key, load, rev_condition
from chalicelib.adapters.store.items import account_of, audience_entry_of, audience_items, subscription_of
from chalicelib.domain.core.records import AudienceEntry
from chalicelib.domain.core.states import SubscriptionStatus

SYNC_PAGE = 100  # items (subscriptions and their audience entries) per account-change message

# The audience entry fields fan-out's planning reads (``fanout_plan.eligible``, ``plan_accounts``).
_PLANNED = ("account_id", "subscription_id", "email", "kinds", "max_severity", "channels", "installed", "digest")
# what an entry is made of: a page leaves the keys and the item type behind (a third less to send and parse)
_ENTRY = (*_PLANNED, "tier")


class AudienceMixin(TableBase):
    # -- account-change sync ----------------------------------------------------------------------
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
            want = {e["SK"]: e for e in audience_items(sub, account.tier, account.products)} if active else {}
            puts = [e for sk, e in want.items() if {k: have.get(sk, {}).get(k) for k in e} != e]
            deletes = [sk for sk in have if sk not in want]
            if puts or deletes:
                actions: list[dict[str, Any]] = [
                    same_contract,
                    {
                        "ConditionCheck": {
                            "TableName": self.name,
                            "Key": key(raw["PK"], raw["SK"]),
                            **rev_condition(int(raw.get("rev", 0))),
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

    # -- fan-out reads ----------------------------------------------------------------------------
    def audience_page(
        self, product: str, *, limit: int, cursor: str | None, planning_only: bool = False
    ) -> tuple[list[AudienceEntry], str | None]:
        """One page of a product's active audience, Elite first (GSI1SK starts with the tier rank).
        ``planning_only``: just what fan-out's planning reads (the audience preview: less to parse per page)."""
        wanted = _PLANNED if planning_only else _ENTRY
        items, following = self._page(
            limit=limit,
            cursor=cursor,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues=dump({":pk": f"AUDIENCE#{product}"}),
            ProjectionExpression=", ".join(f"#p{i}" for i in range(len(wanted))),
            ExpressionAttributeNames={f"#p{i}": f for i, f in enumerate(wanted)},
        )
        return [audience_entry_of(i) for i in items], following
