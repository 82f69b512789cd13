"""DynamoDB in the model: the domain's in-memory store (tests/memory_store.py, held to the real table by the
store contract tests) with the same answers, made fast enough for a million (the audience index sorted
once, not per page; an account's deliveries indexed), behind a proxy that gives every request its latency
in virtual time, counts it, and refuses what DynamoDB refuses (more than 100 actions in a transaction,
a Query page beyond 1 MB); a BatchWriteItem is counted in requests of 25 items, as the table chunks it.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from bench.scale.lambdas import Counters
from bench.scale.params import Params
from bench.scale.vtime import VirtualTime
from chalicelib.domain.core.models import Account, DeliveryOutcome, Subscription
from chalicelib.domain.core.records import AudienceEntry, DeliveryRecord
from tests.memory_store import MemoryStore


class Refused(Exception):
    """What DynamoDB answers with a ValidationException."""


class IndexedStore(MemoryStore):
    """``MemoryStore`` with its scans made indexes: same answers, in O(page) rather than O(table) per page."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock=clock)
        self._audience: dict[tuple[str, bool], tuple[list[str], list[AudienceEntry]]] = {}
        self._sorted_records: dict[tuple[str, str], tuple[int, list[str]]] = {}
        self._by_account: dict[tuple[str, str], dict[str, list[str]]] = {}

    def put_account(self, account: Account) -> bool:
        self._audience.clear()
        return super().put_account(account)

    def put_subscription(self, sub: Subscription) -> None:
        super().put_subscription(sub)
        self._audience.clear()

    def audience_page(
        self, product: str, *, limit: int, cursor: str | None, planning_only: bool = False
    ) -> tuple[list[AudienceEntry], str | None]:
        key = (product, planning_only)
        if key not in self._audience:  # the parent's own index and order, sorted once
            index = self.audience_index(product, planning_only=planning_only)
            self._audience[key] = ([k for k, _ in index], [e for _, e in index])
        orders, entries = self._audience[key]
        start = 0 if cursor is None else bisect.bisect_right(orders, cursor)
        page = entries[start : start + limit]
        more = start + limit < len(entries)
        return page, (orders[start + len(page) - 1] if more and page else None)

    def record_deliveries(self, release_id: str, notice: str, outcomes: Sequence[DeliveryOutcome]) -> None:
        super().record_deliveries(release_id, notice, outcomes)
        accounts = self._by_account.setdefault((release_id, notice), {})
        for o in outcomes:
            keys = accounts.setdefault(o.recipient.account_id, [])
            if o.recipient.key not in keys:
                keys.append(o.recipient.key)

    def account_deliveries(self, release_id: str, notice: str, account_id: str) -> Iterator[DeliveryRecord]:
        records = self.deliveries.get((release_id, notice), {})
        keys = self._by_account.get((release_id, notice), {}).get(account_id, [])
        yield from (records[k] for k in sorted(keys))

    def delivery_page(
        self, release_id: str, notice: str, *, limit: int, cursor: str | None
    ) -> tuple[list[DeliveryRecord], str | None]:
        records = self.deliveries.get((release_id, notice), {})
        known = self._sorted_records.get((release_id, notice))
        if known is None or known[0] != len(records):  # keys are never removed: the count says if they changed
            known = (len(records), sorted(records))
            self._sorted_records[(release_id, notice)] = known
        keys = known[1]
        start = 0 if cursor is None else bisect.bisect_right(keys, cursor)
        page = keys[start : start + limit]
        more = start + limit < len(keys)
        return [records[k] for k in page], (page[-1] if more and page else None)


# Requests an operation costs beyond one, from its arguments (BatchGetItem: 100 keys, BatchWriteItem: 25).
def _keys(n: int, per: int) -> int:
    return max(1, math.ceil(n / per))


COST: dict[str, Callable[..., int]] = {
    "get_accounts": lambda ids, *a, **k: _keys(len(list(ids)), 100),
    "delivery_context": lambda rid, notice, recipients, *a, **k: _keys(1 + 2 * len(recipients), 100),
    "record_deliveries": lambda rid, notice, outcomes, *a, **k: _keys(len(outcomes), 25),
}


class Latent:
    """The store as the domain reaches it: each call a request with its latency, counted, within DynamoDB's
    limits. Seeding and reading the results go to ``store`` itself."""

    def __init__(self, store: IndexedStore, vt: VirtualTime, counters: Counters, params: Params) -> None:
        self.store, self.vt, self.counters, self.params = store, vt, counters, params
        self.rng = random.Random(params.seed + 2)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.store, name)
        if not callable(target) or name.startswith("_"):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            args = tuple(list(a) if isinstance(a, Iterator) else a for a in args)  # counted, then still read
            if self.vt.invocation() is not None:
                self.vt.sleep(self.rng.uniform(*self.params.dynamodb_latency))
            self._check(name, args, kwargs)
            cost = COST.get(name)
            self.counters.add(f"dynamodb.{name}", cost(*args, **kwargs) if cost else 1)
            return target(*args, **kwargs)

        return call

    def _check(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        p = self.params
        # the finish's transaction: the batch, the tally, and the records not written yet
        if name == "finish_batch" and 2 + len(kwargs.get("records", ())) > p.transaction_actions:
            raise Refused(f"finish_batch: more than {p.transaction_actions} actions in one transaction")
        if name == "audience_page" and kwargs.get("limit", 0) * p.audience_entry_bytes > p.dynamodb_page_bytes:
            raise Refused("audience_page: a page beyond 1 MB comes back cut short; the code must not rely on it")
