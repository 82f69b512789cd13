"""What fan-out asks of the store, as Protocols: a notice planned page by page (``PageStore``, which a recall's
planning shares), the audience of a product and its contracts (``FanoutStore``), and the catalog entry of a
release's product (``ProductStore``, which the audience preview shares)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from chalicelib.domain.core.models import Account, Product, Release
from chalicelib.domain.core.records import AudienceEntry
from chalicelib.domain.core.states import ClaimStatus


class ProductStore(Protocol):  # pragma: no mutate block
    """The catalog entry of a product (its features decide the on-call copies' days)."""

    def get_product(self, product_id: str) -> Product | None: ...


class PageStore(Protocol):  # pragma: no mutate block
    """What planning a notice page by page needs from the store: the release, and each page's claim."""

    def get_release(self, release_id: str, *, consistent: bool = False) -> Release | None: ...
    def claim_page(self, release_id: str, notice: str, page: int, *, lease_seconds: int) -> ClaimStatus: ...
    def finish_page(self, release_id: str, notice: str, page: int) -> None: ...


class FanoutStore(PageStore, ProductStore, Protocol):  # pragma: no mutate block
    """What fan-out needs from the store: pages of a product's audience and the contracts of their accounts."""

    def audience_page(
        self, product: str, *, limit: int, cursor: str | None, planning_only: bool = False
    ) -> tuple[list[AudienceEntry], str | None]: ...
    def get_accounts(self, account_ids: Iterable[str]) -> dict[str, Account]: ...
    def queue_digest_items(self, items: Sequence[dict[str, Any]]) -> None: ...
