"""The confirmation rate limits as pure arithmetic on recent send times."""

from __future__ import annotations

import pytest

from chalicelib.domain.subscriptions.limits import (
    History,
    Window,
    after_account,
    after_address,
    mailbox,
    wait,
    without,
)

NOW = 1_000_000


def _h(address: tuple[int, ...] = (), account: tuple[int, ...] = ()) -> History:
    return History(Window(address, 1), Window(account, 1))


def test_nothing_sent_means_now() -> None:
    assert wait(_h(), NOW).seconds == 0


def test_ten_minutes_between_two_to_one_address() -> None:
    assert wait(_h((NOW - 599,)), NOW).seconds == 1 and wait(_h((NOW - 599,)), NOW).limit == "address_gap"
    assert wait(_h((NOW - 600,)), NOW).seconds == 0


def test_three_in_24_hours_then_wait_for_the_oldest_to_age_out() -> None:
    sent = (NOW - 86_000, NOW - 5_000, NOW - 700)
    assert wait(_h(sent), NOW).seconds == 400 and wait(_h(sent), NOW).limit == "address_day"
    assert wait(_h((NOW - 86_400, *sent[1:])), NOW).seconds == 0  # the oldest is exactly a day old


def test_fifty_an_hour_per_account() -> None:
    sent = tuple(NOW - 3_000 + n for n in range(50))
    assert wait(_h(account=sent), NOW).seconds == 600 and wait(_h(account=sent), NOW).limit == "account_hour"
    assert wait(_h(account=sent[1:]), NOW).seconds == 0


def test_only_what_the_limits_still_read_is_kept() -> None:
    assert after_address(Window((NOW - 90_000, NOW - 3_000, NOW - 2_000, NOW - 1_000)), NOW) == (
        NOW - 2_000,
        NOW - 1_000,
        NOW,
    )
    assert len(after_account(Window(tuple(range(NOW - 3_000, NOW - 2_900))), NOW)) == 50
    assert after_account(Window((NOW - 3_601,)), NOW) == (NOW,)
    assert without((1, 2, 2, 3), 2) == (1, 2, 3) and without((1,), 9) == (1,)


@pytest.mark.parametrize(
    ("given", "counted"),
    [
        ("Victim@Customer.Example", "victim@customer.example"),
        ("victim+1@customer.example", "victim@customer.example"),
        ("victim+a+b@customer.example", "victim@customer.example"),
        ("v.ictim@customer.example", "v.ictim@customer.example"),  # dots name another mailbox on most hosts
        ("v.ictim@gmail.com", "victim@gmail.com"),
        ("V.ICTIM+news@GoogleMail.com", "victim@gmail.com"),
        ("+tag@customer.example", "+tag@customer.example"),  # nothing before the tag: the whole local part
    ],
)
def test_the_limits_count_by_the_mailbox_a_message_reaches(given: str, counted: str) -> None:
    assert mailbox(given) == counted
