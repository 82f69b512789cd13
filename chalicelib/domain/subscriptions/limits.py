"""How often a confirmation email may go out: to one mailbox (``mailbox``) at most once per 10 minutes and 3 times
in any 24 hours, on behalf of one account at most 50 in any hour. Pure: the store keeps each key's recent send
times (``Window``) and writes them back only at the revision it read; this decides from them."""

from __future__ import annotations

from dataclasses import dataclass

ADDRESS_GAP_S = 600
ADDRESS_PER_DAY = 3
DAY_S = 86_400
ACCOUNT_PER_HOUR = 50
HOUR_S = 3_600


# Hosts that deliver a local part with its dots dropped to the same mailbox (Gmail's two domains, one inbox).
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def mailbox(address: str) -> str:
    """The mailbox a message to ``address`` reaches, as the per-address limits count it: lower-cased, a ``+tag``
    dropped (sub-addressing, RFC 5233: ``victim+1@`` is ``victim@``'s inbox), and at ``DOTLESS_DOMAINS`` the
    dots of the local part too (``v.ictim@gmail.com``). The address itself is stored and sent to as given."""
    local, _, domain = address.lower().rpartition("@")
    local = local.split("+", 1)[0] or local  # "+tag@" alone names no other mailbox: kept whole
    if domain in DOTLESS_DOMAINS:
        local, domain = local.replace(".", "") or local, DOTLESS_DOMAINS[domain]
    return f"{local}@{domain}"


@dataclass(frozen=True)
class Window:
    """One key's recent send times (epoch seconds, oldest first) and the revision they were read at (0: none)."""

    sent: tuple[int, ...] = ()
    rev: int = 0


@dataclass(frozen=True)
class History:
    address: Window
    account: Window


@dataclass(frozen=True)
class Wait:
    """How long until one more confirmation may go out (0: now), and which limit holds it back."""

    seconds: int
    limit: str = ""  # "address_gap" | "address_day" | "account_hour"


def _recent(sent: tuple[int, ...], now: int, horizon: int) -> list[int]:
    return sorted(t for t in sent if t > now - horizon)


def wait(history: History, now: int) -> Wait:
    waits = [Wait(0)]
    address = _recent(history.address.sent, now, DAY_S)
    if address:
        waits.append(Wait(address[-1] + ADDRESS_GAP_S - now, "address_gap"))
    if len(address) >= ADDRESS_PER_DAY:
        waits.append(Wait(address[-ADDRESS_PER_DAY] + DAY_S - now, "address_day"))
    account = _recent(history.account.sent, now, HOUR_S)
    if len(account) >= ACCOUNT_PER_HOUR:
        waits.append(Wait(account[-ACCOUNT_PER_HOUR] + HOUR_S - now, "account_hour"))
    return max(waits, key=lambda w: w.seconds)


def after_address(window: Window, now: int) -> tuple[int, ...]:
    """The address's send times to keep once one more goes out at ``now`` (only what the limits still read)."""
    return (*_recent(window.sent, now, DAY_S)[-(ADDRESS_PER_DAY - 1) :], now)


def after_account(window: Window, now: int) -> tuple[int, ...]:
    return (*_recent(window.sent, now, HOUR_S)[-(ACCOUNT_PER_HOUR - 1) :], now)


def without(sent: tuple[int, ...], at: int) -> tuple[int, ...]:
    """``sent`` less one send at ``at`` (a confirmation SES did not take is given back)."""
    rest = list(sent)
    if at in rest:
        rest.remove(at)
    return tuple(rest)


MESSAGES = {
    "address_gap": "A confirmation email went to this address less than 10 minutes ago; check the inbox (and spam "
    "folder) for it, or try again later.",
    "address_day": "This address has had 3 confirmation emails in the last 24 hours, the most we send; try again "
    "later.",
    "account_hour": "This account has asked for 50 confirmation emails in the last hour, the most we send; try again "
    "later.",
}
