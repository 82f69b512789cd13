"""The model's population: N subscriptions over N / 10 accounts, 10 % Elite, 30 % Premium, 60 % Xtreme, with
kinds, severities, channels, version lines, digest choices, time zones, role contacts and support periods
varied; and who of it a release must reach, worked out here from what was generated (not by the code under
test), so that missing and beyond-entitlement emails are counted against an independent answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from chalicelib.domain.core.entitlements import KINDS, TIERS
from chalicelib.domain.core.models import Account, Product, Release, Subscription
from chalicelib.domain.core.states import SubscriptionStatus

PRODUCT = "M3"
OTHER = "M4"
TODAY = date.today()
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney")
TIER_MIX = (("elite", 0.10), ("premium", 0.30), ("xtreme", 0.60))
LINES = ("10.1", "9.2")  # a release is for 10.1; a tenth of subscribers said they run 9.2 only


@dataclass
class Population:
    n: int
    accounts: list[Account] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    products: tuple[Product, ...] = (Product(PRODUCT, "M3 Suite"), Product(OTHER, "M4 Suite"))

    def tier_of(self) -> dict[str, str]:
        return {a.account_id: a.tier for a in self.accounts}


def _tier(rng: random.Random) -> str:
    x, acc = rng.random(), 0.0
    for tier, share in TIER_MIX:
        acc += share
        if x < acc:
            return tier
    return TIER_MIX[-1][0]


def _account(i: int, rng: random.Random) -> Account:
    account_id = f"a{i:06d}"
    tier = _tier(rng)
    ended = rng.random() < 0.03
    end = date(TODAY.year - 1, 6, 30) if ended else date(TODAY.year + 4, 12, 31)
    products = (PRODUCT, OTHER) if rng.random() < 0.3 else (PRODUCT,)
    return Account(
        account_id,
        f"Customer {i}",
        tier,
        products,
        date(TODAY.year - 3, 1, 1),
        end,
        timezone=rng.choice(ZONES),
        csm_email=f"csm.{account_id}@vendor.example" if tier == "elite" else None,
        oncall_email=f"oncall.{account_id}@{account_id}.example" if rng.random() < 0.5 else None,
    )


def _subscription(account: Account, s: int, rng: random.Random, created: str) -> Subscription:
    elite = account.tier == "elite"
    x = rng.random()
    kinds = ("service-pack",) if x < 0.07 else KINDS if x < 0.12 else ("patch", "service-pack")
    digest = {"2": "daily"} if rng.random() < 0.03 else {"3": "weekly"} if rng.random() < 0.03 else {}
    same = s > 0 and rng.random() < 0.02  # the same person twice: one notice per address and account
    return Subscription(
        account.account_id,
        f"s{s}",
        f"u{s - 1 if same else s}@{account.account_id}.example",
        (PRODUCT, OTHER) if OTHER in account.products else (PRODUCT,),
        kinds,
        rng.choices((1, 2, 3, 4), (0.05, 0.15, 0.3, 0.5))[0],
        ("ga", "beta") if elite and rng.random() < 0.2 else ("ga",),
        SubscriptionStatus.ACTIVE,
        created,
        installed={PRODUCT: (LINES[1],)} if rng.random() < 0.1 else {PRODUCT: (LINES[0],)} if x > 0.8 else None,
        digest=digest,
    )


def make(n: int, *, seed: int = 26) -> Population:
    """``n`` subscriptions, 5 to 15 per account (10 on average; the last account takes the remainder)."""
    rng = random.Random(seed)
    pop = Population(n)
    created = "2026-01-01T00:00:00Z"
    i = 0
    while len(pop.subscriptions) < n:
        account = _account(i, rng)
        pop.accounts.append(account)
        count = min(5 + rng.randrange(11), n - len(pop.subscriptions))
        pop.subscriptions += [_subscription(account, s, rng, created) for s in range(count)]
        i += 1
    return pop


def expected(pop: Population, release: Release) -> set[str]:
    """The addresses a release notice must reach as subscribers (each once), from the generator's side."""
    policy_ok = {
        t: release.kind in p.kinds and release.channel in p.channels for t, p in TIERS.items()
    }  # the tier's entitlement
    by_id = {a.account_id: a for a in pop.accounts}
    out: set[str] = set()
    for sub in pop.subscriptions:
        account = by_id[sub.account_id]
        if not policy_ok[account.tier] or not account.support_start <= TODAY <= account.support_end:
            continue
        if release.product not in account.products or release.product not in sub.products:
            continue
        if release.kind not in sub.kinds or release.severity > sub.max_severity or release.channel not in sub.channels:
            continue
        lines = (sub.installed or {}).get(release.product)
        if release.applies_to and lines is not None and not set(lines) & set(release.applies_to):
            continue
        if release.severity != 1 and sub.digest.get(str(release.severity)) in ("daily", "weekly"):
            continue  # waits for its digest
        out.add(sub.email)
    return out
