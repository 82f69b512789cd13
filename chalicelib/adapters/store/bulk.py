"""Table adapter part: bulk loading of contracts and active subscriptions (benchmarks, migrations)."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.adapters.store._base import TableBase
from chalicelib.adapters.store.items import account_item, audience_item, subscription_item
from chalicelib.domain.core.models import Account, Subscription


class BulkMixin(TableBase):
    def bulk_load(self, accounts: Sequence[Account], subscriptions: Sequence[Subscription]) -> None:
        """BatchWrite contracts and already-confirmed subscriptions with their audience entries.

        No double opt-in and no conditions: for loading a population someone else already confirmed.
        """
        tiers = {a.account_id: a.tier for a in accounts}
        items = [account_item(a) for a in accounts]
        for sub in subscriptions:
            items.append(subscription_item(sub))
            items += [audience_item(sub, p, tiers[sub.account_id]) for p in sub.products]
        self._batch_write(items)
