"""Planning one fan-out page, pure: which audience entries become recipients (preferences, version lines,
contract), each address once per account, the role copies (on-call, CSM) once an account ends, cut into
delivery batches of at most 49 recipients with ids that a retried page plans again; and the carry that
takes an account on to the next page. No store or queue: ``fanout.run`` reads, claims and enqueues.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chalicelib.domain.core.entitlements import TIERS, decide
from chalicelib.domain.core.messages import DeliveryBatch
from chalicelib.domain.core.models import Account, Recipient, Release
from chalicelib.domain.core.records import AudienceEntry
from chalicelib.domain.core.states import Role
from chalicelib.domain.core.versions import meets
from chalicelib.domain.fanout.addresses import address_digest, carried_seen, first_per_address, seen_for_carry
from chalicelib.domain.fanout.addresses import address_key as address_key  # named here too (the tests compare by it)
from chalicelib.domain.fanout.contacts import Contacts

# 49, not 50: delivery re-checks a batch in ONE BatchGetItem (100 keys): the release, and per recipient
# its subscription and its delivery record, 1 + 2 * 49 = 99.
BATCH_SIZE = 49


def prefers(entry: AudienceEntry, release: Release) -> bool:
    """The entry's kind, severity and channel preferences take the release (version lines aside)."""
    return entry.wants(kind=release.kind, severity=release.severity, channel=release.channel)


def eligible(entry: AudienceEntry, release: Release, account: Account | None, now: datetime) -> Recipient | None:
    """The audience entry as a recipient, if its preferences, its version lines and its account's contract all
    say yes. Only what the entry carries is read: targeting by version costs no request."""
    if account is None:
        return None
    wants = prefers(entry, release) and meets(release.applies_to, entry.installed)
    if not wants or not decide(
        account.contract(), product=release.product, kind=release.kind, channel=release.channel, now=now
    ):
        return None
    return Recipient(entry.account_id, entry.subscription_id, entry.email, account.tier)


def plan_page(
    release: Release, entries: list[AudienceEntry], accounts: dict[str, Account], now: datetime
) -> list[Recipient]:
    recipients = [r for e in entries if (r := eligible(e, release, accounts.get(e.account_id), now)) is not None]
    # The page is in tier order already (the index sorts by rank); keep it stable after the filter.
    return recipients


def by_account(recipients: list[Recipient]) -> dict[str, list[Recipient]]:
    """The recipients of each account, accounts in page order (an account's recipients are contiguous)."""
    groups: dict[str, list[Recipient]] = {}
    for r in recipients:
        groups.setdefault(r.account_id, []).append(r)
    return groups


def batch_id(page: int, position: int, recipients: list[Recipient]) -> str:
    """Page, position and a digest of who is in it: a retried page that plans the same batch gets the same
    id (the claim drops the copy), one whose audience changed in between gets a new id (nobody is lost;
    the per-recipient records keep the overlap from being sent twice)."""
    digest = hashlib.blake2b("|".join(r.key for r in recipients).encode(), digest_size=4).hexdigest()
    return f"{page}-{position}-{digest}"


def batches(release_id: str, recipients: list[Recipient], page: int) -> list[DeliveryBatch]:
    chunks = [recipients[i : i + BATCH_SIZE] for i in range(0, len(recipients), BATCH_SIZE)]
    return [DeliveryBatch(release_id, batch_id(page, n, chunk), tuple(chunk)) for n, chunk in enumerate(chunks)]


def _order(entries: list[AudienceEntry], carry: Mapping[str, Any]) -> list[str]:
    """The accounts this page touches, in order: the one carried over first (it continues here or ended
    with the previous page), then those of the entries."""
    carried = [carry["account"]] if carry.get("account") else []
    return list(dict.fromkeys(carried + [e.account_id for e in entries]))


def plan_accounts(
    release: Release,
    entries: list[AudienceEntry],
    accounts: dict[str, Account],
    now: datetime,
    *,
    page: int,
    carry: Mapping[str, Any],
    more: bool,
    offered: Sequence[str] | None = None,
) -> tuple[list[DeliveryBatch], dict[str, Any]]:
    """One page's delivery batches, role copies included, and the carry to the next page (``offered``: the
    catalog features of the release's product, None when it has no entry: see ``entitlements.oncall_days``).

    Each address gets one notice per account: repeats among an account's subscribers are dropped, and a
    role copy (on-call, CSM) is planned only if its address is not among the account's recipients. So
    both wait for the end of the account: the last account of a page may go on in the next one, and is
    carried (its batch ids, contacts and the digests of its addresses) instead. The on-call copy goes
    before the account's first recipient of the page where the account ends; the CSM copy is a batch of
    its own that waits for every batch holding the account (see docs/delivery.md).
    """
    groups = by_account(plan_page(release, entries, accounts, now))
    order = _order(entries, carry)
    continuing = order[-1] if more and order else None
    seen = {a: carried_seen(carry, a) for a in order}
    contacts = {a: Contacts.of(a, accounts, carry, release, now, offered) for a in order}
    planned: list[Recipient] = []
    for account_id in order:
        people, c = first_per_address(groups.get(account_id, []), seen[account_id]), contacts[account_id]
        had = people or (account_id == carry.get("account") and carry.get("batches"))
        if account_id != continuing and had and c.oncall:
            oncall = Recipient(account_id, Role.ONCALL, c.oncall, c.tier, Role.ONCALL)
            people = first_per_address([oncall], seen[account_id]) + people
        planned += people
    planned_batches = batches(release.release_id, planned, page)
    ids = _account_batches(planned_batches, carry)
    copies = _csm_copies(release, contacts, ids, seen, continuing)
    if continuing is None:
        return planned_batches + copies, {}
    return planned_batches + copies, _carry(continuing, contacts[continuing], ids, seen[continuing])


def _csm_copies(
    release: Release,
    contacts: dict[str, Contacts],
    ids: dict[str, list[str]],
    seen: dict[str, set[str]],
    continuing: str | None,
) -> list[DeliveryBatch]:
    """The CSM copy of each account that ended on this page and had recipients, if its tier has one and its
    address got no notice of its own: a batch waiting for the account's batches."""
    return [
        DeliveryBatch(
            release.release_id, f"csm-{a}", (Recipient(a, Role.CSM, c.csm, c.tier, Role.CSM),), after=tuple(ids[a])
        )
        for a, c in contacts.items()
        if a != continuing
        and a in ids
        and c.csm
        and (TIERS.get(c.tier) and TIERS[c.tier].csm_copy)
        and address_digest(c.csm) not in seen[a]
    ]


def _carry(account_id: str, last: Contacts, ids: dict[str, list[str]], seen: set[str]) -> dict[str, Any]:
    """What the next page needs of the account going on there: its batches, contacts and addresses so far."""
    return {
        "account": account_id,
        "batches": ids.get(account_id, []),
        "csm": last.csm,
        "tier": last.tier,
        "oncall": last.oncall,
        "seen": seen_for_carry(seen),
    }


def _account_batches(planned: list[DeliveryBatch], carry: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each account of the page, in order, with the ids of the batches holding its recipients."""
    found: dict[str, list[str]] = {}
    if carry.get("account") and carry.get("batches"):
        found[carry["account"]] = list(carry["batches"])
    for b in planned:
        for r in b.recipients:
            ids = found.setdefault(r.account_id, [])
            if b.batch_id not in ids:
                ids.append(b.batch_id)
    return found
