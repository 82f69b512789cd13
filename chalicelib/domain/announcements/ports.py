"""What the release pipeline asks of the store about announcements, as Protocols: publishing marks the
announcement of a version released, a notice threads under the announcement each recipient got, and an
announcement's batch is rendered from its context. Apart from ``chalicelib.domain.announcements.plans`` so that the
release and delivery stores can name them without importing the announcements' domain code. And what the
announcements' own planning (``plans``) and delivery planning (``delivery``) ask of it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from chalicelib.domain.core.models import Account, Product, Recipient, Release
from chalicelib.domain.core.records import Announcement, AudienceEntry, DeliveryRecord
from chalicelib.domain.core.states import ClaimStatus, ReleaseStatus


class AnnouncedStore(Protocol):
    """What publishing asks of the store about announcements: the one of a version, and marking it released."""

    def announcement_of(self, product: str, version: str) -> Announcement | None: ...
    def set_announcement(self, announcement_id: str, **fields: Any) -> None: ...
    def set_release_fields(self, release_id: str, *, in_status: ReleaseStatus, **fields: Any) -> Release | None: ...


class ThreadingStore(Protocol):
    """What threading a release's notice under its announcement asks of the store."""

    def announcement_parents(self, announcement_id: str, recipients: Sequence[Recipient]) -> dict[str, str]: ...


class AnnouncementMailStore(Protocol):
    """What rendering an announcement's batch asks of the store."""

    def announcement_context(
        self, announcement_id: str, recipients: Sequence[Recipient]
    ) -> tuple[Announcement | None, dict[str, Account], dict[str, str]]: ...


class PlanStore(AnnouncedStore, Protocol):  # pragma: no mutate block
    """What planning announcements needs from the store: an announcement made once per product and version,
    moved, cancelled, listed, and a product's announcements for the catalogue."""

    def create_announcement(self, a: Announcement) -> None: ...
    def get_announcement(self, announcement_id: str, *, consistent: bool = False) -> Announcement | None: ...
    def change_announcement(self, a: Announcement, **fields: Any) -> Announcement | None: ...
    def list_announcements(self, *, limit: int, cursor: str | None) -> tuple[list[Announcement], str | None]: ...
    def product_announcements(self, products: Sequence[str]) -> list[Announcement]: ...
    def get_account(self, account_id: str, *, consistent: bool = False) -> Account | None: ...
    def list_products(self) -> list[Product]: ...


class AnnouncementDeliveryStore(AnnouncementMailStore, Protocol):  # pragma: no mutate block
    """What planning an announcement's delivery needs from the store: its page claims, one tier's audience page
    by page, the followers of an earlier notice, and their contracts."""

    def get_announcement(self, announcement_id: str, *, consistent: bool = False) -> Announcement | None: ...
    def claim_page(self, release_id: str, notice: str, page: int, *, lease_seconds: int) -> ClaimStatus: ...
    def finish_page(self, release_id: str, notice: str, page: int) -> None: ...
    def tier_audience_page(
        self, product: str, rank: int, *, limit: int, cursor: str | None
    ) -> tuple[list[AudienceEntry], str | None]: ...
    def delivery_page(
        self, release_id: str, notice: str, *, limit: int, cursor: str | None
    ) -> tuple[list[DeliveryRecord], str | None]: ...
    def get_accounts(self, account_ids: Iterable[str]) -> dict[str, Account]: ...
