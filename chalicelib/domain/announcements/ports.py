"""What the release pipeline asks of the store about announcements, as Protocols: publishing marks the
announcement of a version released, a notice threads under the announcement each recipient got, and an
announcement's batch is rendered from its context. Apart from ``chalicelib.domain.announcements.plans`` so that the
release and delivery stores can name them without importing the announcements' domain code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from chalicelib.domain.core.models import Account, Recipient, Release
from chalicelib.domain.core.records import Announcement
from chalicelib.domain.core.states import ReleaseStatus


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
