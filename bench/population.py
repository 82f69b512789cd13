"""A synthetic population over the three tiers, loaded straight into the table, and who of it is eligible."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

from chalicelib.adapters.store import Table
from chalicelib.domain.core.models import Account, Subscription, now_iso
from chalicelib.domain.core.states import SubscriptionStatus

TIERS = ("elite", "premium", "xtreme")
PER_ACCOUNT = 5


@dataclass(frozen=True)
class Population:
    product: str
    accounts: list[Account]
    subscribers: list[Subscription]
    eligible: frozenset[str]  # addresses that must get exactly one notice of a ga patch of severity 2


def make(n: int, product: str, *, seed: int = 5) -> Population:
    """``n`` subscribers, ``PER_ACCOUNT`` per account; about 1 in 10 not eligible (support period over,
    or preferences that exclude the release), so the check of "no ineligible one got any" means something."""
    rng = random.Random(seed)
    accounts: list[Account] = []
    subs: list[Subscription] = []
    eligible: set[str] = set()
    for a in range((n + PER_ACCOUNT - 1) // PER_ACCOUNT):
        tier = TIERS[a % 3]
        expired = rng.random() < 0.04
        end = date(2025, 12, 31) if expired else date(2030, 12, 31)
        acct = Account(f"b{a:06d}", f"Bench {a}", tier, (product,), date(2024, 1, 1), end)
        accounts.append(acct)
        for s in range(min(PER_ACCOUNT, n - a * PER_ACCOUNT)):
            kinds = ("service-pack",) if rng.random() < 0.06 else ("patch", "service-pack")
            sub = Subscription(
                acct.account_id,
                f"s{s}",
                f"u{s}.{acct.account_id}@bench.example",
                (product,),
                kinds,
                4,
                ("ga",),
                SubscriptionStatus.ACTIVE,
                now_iso(),
            )
            subs.append(sub)
            if not expired and "patch" in kinds:
                eligible.add(sub.email)
    return Population(product, accounts, subs, frozenset(eligible))


def load(table: Table, population: Population, *, threads: int = 4, chunk: int = 500) -> None:
    """BatchWrite in parallel chunks of accounts (each with its subscribers)."""
    by_account: dict[str, list[Subscription]] = {}
    for s in population.subscribers:
        by_account.setdefault(s.account_id, []).append(s)
    groups = [
        population.accounts[i : i + chunk // PER_ACCOUNT]
        for i in range(0, len(population.accounts), chunk // PER_ACCOUNT)
    ]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda g: table.bulk_load(g, [s for a in g for s in by_account.get(a.account_id, [])]), groups))
