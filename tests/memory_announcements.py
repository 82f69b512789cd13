"""The in-memory store's part for announcements: what ``announcements.ports`` asks (one announcement per product and
version, moved and cancelled only from the sequence and status read, listed newest first, a product's by planned
date, one tier's audience, what a notice threads under), as the table's part of the same name serves it.
tests/adapters/test_store_contract_accounts.py holds both to the same scenarios."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

from chalicelib.domain.core.entitlements import TIERS
from chalicelib.domain.core.errors import AlreadyExists, BadRequest
from chalicelib.domain.core.models import Account, Recipient
from chalicelib.domain.core.records import Announcement, AudienceEntry, DeliveryRecord
from chalicelib.domain.core.states import DeliveryStatus

_CURSOR = "mem-announcements:"  # this store's own cursor: one from elsewhere is refused, as the table refuses


class AnnouncementsMemory:
    """Announcements by id and by product and version, beside the delivery records their notices leave."""

    # Held by MemoryStore (tests/memory_store.py), which sets them up.
    _lock: threading.RLock
    accounts: dict[str, Account]
    deliveries: dict[tuple[str, str], dict[str, DeliveryRecord]]

    def audience_page(
        self, product: str, *, limit: int, cursor: str | None, planning_only: bool = False
    ) -> tuple[list[AudienceEntry], str | None]:
        raise NotImplementedError

    def _init_announcements(self) -> None:
        self.announcements: dict[str, Announcement] = {}
        self._announced: dict[tuple[str, str], str] = {}  # (product, version) -> the live announcement

    def create_announcement(self, a: Announcement) -> None:
        with self._lock:
            if (a.product, a.version) in self._announced or a.announcement_id in self.announcements:
                raise AlreadyExists(f"{a.product} {a.version} is announced already.")
            self.announcements[a.announcement_id] = a
            self._announced[(a.product, a.version)] = a.announcement_id

    def get_announcement(self, announcement_id: str, *, consistent: bool = False) -> Announcement | None:
        return self.announcements.get(announcement_id)

    def announcement_of(self, product: str, version: str) -> Announcement | None:
        found = self._announced.get((product, version))
        return self.announcements.get(found) if found else None

    def change_announcement(self, a: Announcement, **fields: Any) -> Announcement | None:
        with self._lock:
            now = self.announcements.get(a.announcement_id)
            if now is None or (now.sequence, now.status) != (a.sequence, a.status):
                return None
            new = dataclasses.replace(a, sequence=a.sequence + 1, **fields)
            self.announcements[a.announcement_id] = new
            if new.status == "cancelled":
                self._announced.pop((a.product, a.version), None)
            return new

    def set_announcement(self, announcement_id: str, **fields: Any) -> None:
        with self._lock:
            self.announcements[announcement_id] = dataclasses.replace(self.announcements[announcement_id], **fields)

    def list_announcements(self, *, limit: int, cursor: str | None) -> tuple[list[Announcement], str | None]:
        if cursor is not None and not cursor.startswith(_CURSOR):
            raise BadRequest("Query parameter 'cursor' is not a cursor this list gave out.", code="invalid_cursor")
        after = cursor.removeprefix(_CURSOR) if cursor else None
        ordered = sorted(self.announcements.values(), key=_listed, reverse=True)
        found = [a for a in ordered if after is None or _listed(a) < after]
        page = found[:limit]
        return page, (_CURSOR + _listed(page[-1]) if len(found) > limit and page else None)

    def product_announcements(self, products: Sequence[str]) -> list[Announcement]:
        wanted = set(products)
        found = [a for a in self.announcements.values() if a.product in wanted]
        return sorted(found, key=lambda a: (a.planned_for, a.announcement_id))

    def tier_audience_page(
        self, product: str, rank: int, *, limit: int, cursor: str | None
    ) -> tuple[list[AudienceEntry], str | None]:
        """The audience index's entries of one tier (its rank), a page at a time in the index's order."""
        everyone, _ = self.audience_page(product, limit=1_000_000, cursor=None)
        order = [(self._order(product, e), e) for e in everyone]
        tier = [(k, e) for k, e in order if k.startswith(f"{rank}#") and (cursor is None or k > cursor)]
        page = tier[:limit]
        return [e for _, e in page], (page[-1][0] if len(tier) > limit else None)

    def _order(self, product: str, entry: AudienceEntry) -> str:
        return f"{TIERS[self.accounts[entry.account_id].tier].rank}#{entry.account_id}#{entry.subscription_id}"

    def announcement_parents(self, announcement_id: str, recipients: Sequence[Recipient]) -> dict[str, str]:
        records = self.deliveries.get((announcement_id, "announce"), {})
        sent = {k: r.message_id for k, r in records.items() if r.status == DeliveryStatus.SENT and r.message_id}
        return {r.key: sent[r.key] for r in recipients if r.key in sent}

    def announcement_context(
        self, announcement_id: str, recipients: Sequence[Recipient]
    ) -> tuple[Announcement | None, dict[str, Account], dict[str, str]]:
        accounts = {r.account_id: self.accounts[r.account_id] for r in recipients if r.account_id in self.accounts}
        return (
            self.announcements.get(announcement_id),
            accounts,
            self.announcement_parents(announcement_id, recipients),
        )


def _listed(a: Announcement) -> str:
    return f"{a.created_at}#{a.announcement_id}"
