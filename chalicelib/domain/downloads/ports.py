"""What the downloads ask of the store, as Protocols: a click on a download link (``clicks``), the request for a
fresh link (``fresh_links``), and a customer's catalogue of fixes (``catalog``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from chalicelib.domain.core.models import Account, Release, Subscription


class DownloadStore(Protocol):  # pragma: no mutate block
    """What a click on a download link needs from the store."""

    def get_release(self, release_id: str, *, consistent: bool = False) -> Release | None: ...
    def download_context(
        self, release_id: str, account_id: str, subscription_id: str
    ) -> tuple[Release | None, Account | None, Subscription | None, bool]: ...
    def record_download(
        self,
        release_id: str,
        *,
        account_id: str,
        subscription_id: str,
        ip: str,
        user_agent: str,
        email: str | None = None,
        tier: str | None = None,
        first: bool = True,
    ) -> None: ...


class FreshLinkStore(DownloadStore, Protocol):  # pragma: no mutate block
    """What the request for a fresh link needs beyond a click's: its once-per-window claim, and the notice
    it replies to."""

    def claim_fresh_link(self, release_id: str, account_id: str, subscription_id: str, *, window: int) -> bool: ...
    def release_fresh_link(self, release_id: str, account_id: str, subscription_id: str) -> None: ...
    def notice_message_id(self, release_id: str, account_id: str, subscription_id: str) -> str | None: ...


class CatalogStore(DownloadStore, Protocol):  # pragma: no mutate block
    """What a customer's catalogue of fixes needs beyond a click's: their contract, and the releases page by
    page."""

    def get_account(self, account_id: str, *, consistent: bool = False) -> Account | None: ...
    def list_releases(
        self, where: Mapping[str, str], *, limit: int, cursor: str | None
    ) -> tuple[list[Release], str | None]: ...
