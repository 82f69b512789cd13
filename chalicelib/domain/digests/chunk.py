"""The digests of a page waiting for their write: a marker each and the report's counters they add per release,
in transactions within DynamoDB's limit (``MAX_ACTIONS``); a digest of more releases than one holds is
recorded alone, the store splitting its counters (``store/digests.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.domain.core.models import Release
from chalicelib.domain.core.records import MAX_ACTIONS, SentDigest
from chalicelib.domain.reports import release_report as reports

if TYPE_CHECKING:
    from chalicelib.domain.digests.ports import DigestRecords


# Digests per transaction, as delivery's RECORD_CHUNK: a crash between SES accepting them and their write
# sends at most this many again (more per write would save ~0.02 requests per digest email).
DIGESTS_PER_WRITE = 25


class Chunk:
    """Sent digests waiting for their one transaction (a marker each, up to ``MAX_ACTIONS`` less the releases
    they touch), with the counters they add per release."""

    def __init__(self, table: DigestRecords, bucket: str, releases: dict[str, Release]) -> None:
        self.table, self.bucket, self.releases = table, bucket, releases
        self.digests: list[SentDigest] = []
        self.tallies: dict[str, dict[str, int]] = {}
        self.sent = 0

    def _size(self, extra: SentDigest | None = None) -> int:
        ds = self.digests + ([extra] if extra else [])
        releases = {r for d in ds for r in (*d.releases, *d.skipped)}
        return len(ds) + len(releases)  # a marker a digest, a counter update a release

    def add(self, d: SentDigest) -> None:
        """A digest of more releases than one transaction holds is recorded alone (the store splits it)."""
        if self.digests and (self._size(d) > MAX_ACTIONS or len(self.digests) >= DIGESTS_PER_WRITE):
            self.flush()
        self.digests.append(d)
        self.sent += d.status == "sent"
        tier = d.recipient.tier or "unknown"
        for release_id in d.releases:
            self._bump(release_id, f"{tier}#subscriber#{d.status}")
        for release_id in d.skipped:
            self._bump(release_id, f"{tier}#subscriber#skipped")
        if d.status == "sent":  # time to notice: the digest's, from each release's publishing
            accepted = datetime.fromisoformat(d.at.replace("Z", "+00:00")).timestamp()
            for release_id in d.releases:
                published = self.releases[release_id].published_at
                for edge, n in reports.after_publishing(published, [accepted]).items():
                    self._bump(release_id, f"{tier}#{reports.AFTER}#{edge}", n)

    def _bump(self, release_id: str, name: str, n: int = 1) -> None:
        counts = self.tallies.setdefault(release_id, {})
        counts[name] = counts.get(name, 0) + n

    def flush(self) -> None:
        if self.digests:
            self.table.record_digests(self.bucket, self.digests, self.tallies)
        self.digests, self.tallies = [], {}
