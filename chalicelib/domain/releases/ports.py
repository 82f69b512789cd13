"""What the releases ask of the store, as Protocols: moving a release between states (``ReleaseTransitions``),
publishing it (``PublishStore``), creating, editing and listing it and completing its upload (``ReleaseStore``),
yanking it and planning and rendering its recall (``RecallStore``, ``RecallMailStore``), and sizing its audience
(``AudienceStore``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from chalicelib.domain.announcements.ports import AnnouncedStore
from chalicelib.domain.core.models import Account, Product, Recipient, Release
from chalicelib.domain.core.records import AudienceEntry, DeliveryRecord
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.fanout.ports import PageStore, ProductStore


class AudienceStore(ProductStore, Protocol):  # pragma: no mutate block
    """What sizing a release's audience needs from the store: the audience page by page, the contracts and the
    suppressed addresses."""

    def audience_page(
        self, product: str, *, limit: int, cursor: str | None, planning_only: bool = False
    ) -> tuple[list[AudienceEntry], str | None]: ...
    def get_accounts(self, account_ids: Iterable[str]) -> dict[str, Account]: ...
    def suppressed(self, addresses: Sequence[str]) -> set[str]: ...


class ReleaseTransitions(Protocol):  # pragma: no mutate block
    """What moving a release between states (and queueing its first page once) needs from the store."""

    def get_release(self, release_id: str, *, consistent: bool = False) -> Release | None: ...
    def transition_release(
        self,
        release_id: str,
        *,
        from_status: Sequence[ReleaseStatus],
        to_status: ReleaseStatus,
        due_by: str | None = None,
        **fields: Any,
    ) -> Release | None: ...
    def claim_queueing(self, release_id: str, notice: Literal["fanout", "recall"], *, lease_seconds: int) -> bool: ...
    def mark_queued(self, release_id: str, notice: Literal["fanout", "recall"]) -> None: ...


class PublishStore(ReleaseTransitions, AnnouncedStore, Protocol):  # pragma: no mutate block
    """What publishing needs from the store: the transitions, scheduling and the schedule's index."""

    def schedule_release(self, release: Release) -> Release | None: ...
    def due_releases(self, now: str, *, limit: int = 25) -> list[str]: ...


class ReleaseStore(PublishStore, Protocol):  # pragma: no mutate block
    """What creating, editing, listing and publishing releases need from the store."""

    def list_products(self) -> list[Product]: ...
    def create_release(self, release: Release) -> None: ...
    def edit_release(self, release_id: str, *, in_status: ReleaseStatus, fields: dict[str, Any]) -> Release | None: ...
    def list_releases(
        self, where: Mapping[str, str], *, limit: int, cursor: str | None
    ) -> tuple[list[Release], str | None]: ...


class RecallMailStore(Protocol):  # pragma: no mutate block
    """What rendering a recall batch needs from the store."""

    def recall_context(
        self, release: Release, recipients: Sequence[Recipient]
    ) -> tuple[dict[str, str], dict[str, Account], Release | None]: ...


class RecallStore(PageStore, ReleaseTransitions, Protocol):  # pragma: no mutate block
    """What yanking a release and planning its recall need from the store."""

    def delivery_page(
        self, release_id: str, notice: str, *, limit: int, cursor: str | None
    ) -> tuple[list[DeliveryRecord], str | None]: ...
