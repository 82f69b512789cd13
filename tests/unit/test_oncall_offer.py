"""Which days a tier's on-call copies go, from the product's catalog features (footnote ``*``)."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.core.entitlements import OnCallDays, oncall_copy_due, oncall_days

SUNDAY_3AM = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
TUESDAY_3AM = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def test_premium_gets_every_day_with_p1_weekdays_with_x10_only_and_nothing_without_either() -> None:
    assert oncall_days("premium", ("X10", "P1")) is OnCallDays.EVERY_DAY
    assert oncall_days("premium", ("X10",)) is OnCallDays.WEEKDAYS
    assert oncall_days("premium", ("E7",)) is None


def test_xtreme_never_gets_p1s_days_even_when_the_product_offers_it() -> None:
    assert oncall_days("xtreme", ("P1",)) is None
    assert oncall_days("xtreme", ("X10", "P1")) is OnCallDays.WEEKDAYS


def test_a_product_without_a_catalog_entry_keeps_the_tiers_days() -> None:
    assert oncall_days("elite", None) is OnCallDays.EVERY_DAY
    assert oncall_days("xtreme", None) is OnCallDays.WEEKDAYS


def test_an_elite_copy_on_a_sunday_night_needs_p1_offered() -> None:
    def due(offered: tuple[str, ...], now: datetime) -> bool:
        return oncall_copy_due("elite", severity=1, local_now=now, business_hours=(8, 17), offered=offered)

    assert due(("P1",), SUNDAY_3AM) and not due(("X10",), SUNDAY_3AM) and due(("X10",), TUESDAY_3AM)
    assert not due((), TUESDAY_3AM)
