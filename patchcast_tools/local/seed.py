"""Demo data for the local stack: products, one account per tier, one confirmed subscriber each."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from chalicelib.adapters import wiring
from chalicelib.domain.accounts import due
from chalicelib.domain.core.models import Account, Product, Subscription, now_iso
from chalicelib.domain.core.states import SubscriptionStatus

PRODUCTS = [Product("M3", "M3 Business Suite", ("X10", "P1", "E7")), Product("XA", "XA Manufacturing", ("X10",))]
ACCOUNTS = [
    Account("acme", "Acme Industries", "elite", ("M3", "XA"), date(2026, 1, 1), date(2027, 12, 31), "Europe/Stockholm",
            csm_email="csm.acme@vendor.example", oncall_email="oncall@acme.example"),
    Account("globex", "Globex Corporation", "premium", ("M3", "XA"), date(2026, 1, 1), date(2027, 12, 31), "America/New_York",
            oncall_email="oncall@globex.example"),
    Account("initech", "Initech", "xtreme", ("M3",), date(2026, 1, 1), date(2027, 12, 31), "UTC"),
]  # fmt: skip
SUBSCRIBERS = {"acme": "ops@acme.example", "globex": "it@globex.example", "initech": "admin@initech.example"}


def load_demo_data() -> None:
    table = wiring.Wiring().table
    for product in PRODUCTS:
        table.put_product(product)
    for account in ACCOUNTS:
        table.put_account(account)
        due.schedule(table, account, datetime.now(UTC))  # as an import does: its review and warnings due
        sub = Subscription(
            account_id=account.account_id,
            subscription_id=f"demo-{account.account_id}",
            email=SUBSCRIBERS[account.account_id],
            products=account.products,
            kinds=("patch", "service-pack", "feature-pack", "update", "critical-solution"),
            max_severity=4,
            channels=("ga", "beta") if account.tier == "elite" else ("ga",),
            status=SubscriptionStatus.PENDING,
            created_at=now_iso(),
        )
        table.put_pending_subscription(sub, expires_at=int(time.time()) + 3600)
        table.activate_subscription(account.account_id, sub.subscription_id, tier=account.tier)
