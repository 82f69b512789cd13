"""The words of each entitlement refusal (they reach people as a 403's message) and the first day of a
support period: what the matrix tests leave open."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.entitlements import Contract, Reason, decide

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _contract(tier: str = "premium", start: date = date(2026, 1, 1), end: date = date(2026, 12, 31)) -> Contract:
    return Contract("acct", tier, frozenset({"M3"}), start, end)


def test_the_first_day_of_the_support_period_counts() -> None:
    assert decide(_contract(start=NOW.date()), product="M3", kind="patch", channel="ga", now=NOW)


@pytest.mark.parametrize(
    ("contract", "ask", "reason", "message"),
    [
        (_contract("gold"), {}, Reason.UNKNOWN_TIER, "Account acct has no known support tier."),
        (_contract(start=date(2027, 1, 1), end=date(2027, 12, 31)), {}, Reason.PERIOD_NOT_STARTED,
         "The support period of account acct starts on 2027-01-01."),
        (_contract(end=date(2026, 11, 25)), {}, Reason.PERIOD_ENDED,
         "The support period of account acct ended on 2026-11-25; renew the support contract to receive notices "
         "and downloads again."),
        (_contract(), {"product": "XA"}, Reason.PRODUCT_NOT_IN_CONTRACT,
         "Product XA is not part of the support contract of account acct."),
        (_contract(), {"channel": "beta"}, Reason.CHANNEL_NOT_ENTITLED,
         "Xtreme Premium does not include beta releases; beta and test programmes are Xtreme Elite only."),
    ],
)  # fmt: skip
def test_each_refusal_says_why_in_words_for_people(
    contract: Contract, ask: dict[str, str], reason: Reason, message: str
) -> None:
    decision = decide(contract, **{"product": "M3", "kind": "patch", "channel": "ga", **ask}, now=NOW)  # type: ignore[arg-type]
    assert (bool(decision), decision.reason, decision.message) == (False, reason, message)


def test_an_entitled_decision_says_so() -> None:
    decision = decide(_contract("elite"), product="M3", kind="patch", channel="beta", now=NOW)
    assert (bool(decision), decision.reason, decision.message) == (True, Reason.OK, "entitled")
