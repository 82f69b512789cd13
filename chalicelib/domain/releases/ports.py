"""What sizing a release's audience asks of the store, as a Protocol. (Editing, uploads, publishing and recall name
theirs where they are used: ``editing.ReleaseStore``, ``publishing.PublishStore``, ``recall.RecallStore``.)"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from chalicelib.domain.core.models import Account
from chalicelib.domain.core.records import AudienceEntry
from chalicelib.domain.fanout.ports import ProductStore


class AudienceStore(ProductStore, Protocol):  # pragma: no mutate block
    """What sizing a release's audience needs from the store: the audience page by page, the contracts and the
    suppressed addresses."""

    def audience_page(
        self, product: str, *, limit: int, cursor: str | None, planning_only: bool = False
    ) -> tuple[list[AudienceEntry], str | None]: ...
    def get_accounts(self, account_ids: Iterable[str]) -> dict[str, Account]: ...
    def suppressed(self, addresses: Sequence[str]) -> set[str]: ...
