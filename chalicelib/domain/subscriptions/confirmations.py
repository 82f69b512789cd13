"""The one path every confirmation email takes: none to a suppressed address (409 ``address_suppressed``), none
beyond the rate limits of ``confirm_limits`` (429 ``too_many_confirmations`` with ``Retry-After``), the send
counted in the same transaction as whatever the confirmation is for, and given back when SES does not take it.
Support admins lift a suppression here too (audited)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.auth import SUPPORT_ADMINS, Identity
from chalicelib.domain.core import validation as v
from chalicelib.domain.core.errors import AddressSuppressed, CountersMoved, NotFound, RateLimited
from chalicelib.domain.subscriptions import limits as confirm_limits
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Mailer
    from chalicelib.domain.subscriptions.ports import ConfirmationStore

# Concurrent requests for one address or account serialise on its counter's revision; one that loses this
# often is told to come back in a second rather than held (the limits are never exceeded either way).
RACE_RETRIES = 6
clock: Callable[[], float] = time.time  # the limits' clock (tests move it on rather than wait 10 minutes)
Write = Callable[[list[dict[str, Any]]], None]


def refuse_suppressed(table: ConfirmationStore, address: str) -> None:
    found = table.suppression(address)
    if found is not None:
        raise AddressSuppressed(str(found.get("reason", "")))


def _take(table: ConfirmationStore, account_id: str, address: str, write: Write | None) -> int:
    """Take one confirmation for ``address`` on behalf of ``account_id`` (with ``write``'s items, if any); the
    time it was counted at."""
    for _attempt in range(RACE_RETRIES):
        refuse_suppressed(table, address)
        now = int(clock())
        history = table.confirmation_history(account_id, address)
        held = confirm_limits.wait(history, now)
        if held.seconds > 0:
            logger.info("confirmation refused by its rate limit", extra={"limit": held.limit})
            raise RateLimited(
                confirm_limits.MESSAGES[held.limit], code="too_many_confirmations", retry_after=held.seconds
            )
        guards = table.confirmation_guards(history, account_id, address, now)
        try:
            (write or table.take_confirmation)(guards)
        except CountersMoved:
            continue
        return now
    raise RateLimited(
        "Many confirmation emails were asked for at once for this address or account; try again in a second.",
        code="too_many_confirmations",
        retry_after=1,
    )


def send(
    table: ConfirmationStore,
    mailer: Mailer,
    *,
    account_id: str,
    address: str,
    raw: bytes,
    write: Write | None = None,
    undo: Callable[[], object] | None = None,
) -> None:
    """Send the confirmation ``raw`` to ``address``: ``write`` (given the counter guards to put in its
    transaction) records what it confirms; ``undo`` takes that back if SES does not accept the message.
    Without ``write`` (a confirmation sent again for a pending subscription) the guards are written alone."""
    at = _take(table, account_id, address, write)
    try:
        mailer.send_raw(address, raw)
    except Exception:
        if undo is not None:
            undo()
        table.give_back_confirmation(account_id, address, at)
        raise


def lift(table: ConfirmationStore, who: Identity, raw_address: str) -> dict[str, Any]:
    """Support admins: end an address's suppression, audited. Its subscriptions stay suppressed; subscribing the
    address again sends a new confirmation (docs/subscriptions.md, "Suppressed addresses")."""
    who.require_group(SUPPORT_ADMINS)
    from urllib.parse import unquote

    address = v.email(unquote(raw_address))
    lifted = table.lift_suppression(address, by=who.email or who.subject)
    if lifted is None:
        raise NotFound("This address is not suppressed.", code="not_suppressed")
    logger.info("suppression lifted", extra={"reason": lifted.get("reason")})
    return lifted
