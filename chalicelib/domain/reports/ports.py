"""What the release report asks of the store, as a Protocol: its counters, its first download and the batches given up."""

from __future__ import annotations

from typing import Protocol

from chalicelib.domain.core.records import FailedBatch


class ReportStore(Protocol):  # pragma: no mutate block
    """What a release's report needs from the store: the counters delivery and downloads keep, the first
    download, and the delivery batches given up."""

    def tallies(self, release_id: str) -> dict[str, dict[str, int]]: ...
    def first_download(self, release_id: str) -> str | None: ...
    def failed_batches(self, release_id: str) -> list[FailedBatch]: ...
