"""Fan-out sends the severity-1 on-call copy only for products whose catalog entry offers the tier's
after-hours feature (X10 for Xtreme, P1 for Premium and Elite): the seed's footnote ``*``."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.core import entitlements
from chalicelib.domain.core.messages import FanoutPage
from chalicelib.domain.core.models import Product
from chalicelib.domain.fanout import pages as fanout
from tests.app.delivery_world import QueueRecorder, load_world


def _oncall_tiers(wired: Any, features: tuple[str, ...] | None) -> set[str]:
    """Fan out a severity-1 release of a new product (catalog ``features``; None: no entry) to one account
    per tier, always out of business hours; the tiers whose on-call contact got a copy."""
    world = load_world(
        wired.table, per_tier=1, severity=1, oncall_email="oncall@customer.example", business_hours=(0, 0)
    )
    if features is not None:
        wired.table.put_product(Product(world.product, "Product", features))
    sent: list[tuple[str, dict[str, Any], int]] = []
    fanout.run(wired.table, QueueRecorder(sent), FanoutPage(world.release.release_id))
    return {row["tier"] for _, body, _ in sent for row in body.get("recipients", []) if row["role"] == "oncall"}


def test_a_product_offering_p1_gets_premium_and_elite_copies_and_no_xtreme_one(wired: Any) -> None:
    assert _oncall_tiers(wired, ("P1",)) == {"premium", "elite"}


def test_a_product_offering_no_after_hours_feature_gets_no_oncall_copy(wired: Any) -> None:
    assert _oncall_tiers(wired, ("E7",)) == set()


def test_a_product_with_no_catalog_entry_keeps_the_tiers_own_days(wired: Any) -> None:
    got = _oncall_tiers(wired, None)
    assert {"premium", "elite"} <= got  # every day; xtreme's depends on today being a weekday


def test_taking_p1_away_from_elite_stops_its_oncall_copy(wired: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(entitlements.STARRED, "elite", ("X10", "E7"))
    assert _oncall_tiers(wired, ("P1",)) == {"premium"}


def test_fanout_reads_the_catalog_once_per_page_not_per_recipient(wired: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real = wired.table.get_product
    monkeypatch.setattr(wired.table, "get_product", lambda p: reads.append(p) or real(p))
    _oncall_tiers(wired, ("P1",))
    assert len(reads) == 1
