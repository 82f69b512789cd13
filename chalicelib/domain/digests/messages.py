"""The digest queue's message (as ``core.messages``' records: typed, with the JSON both sides use): a due window
bucket's page of digests to plan, or a batch of them to send. A malformed one raises ``MalformedMessage`` and
reaches the queue's DLQ; nothing re-enqueues it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain.core.messages import MalformedMessage, _int, _object, _str, retry_batch_id
from chalicelib.domain.digests import windows


@dataclass(frozen=True)
class DigestWork:
    """A page to plan (no ``batch_id``: the bucket's subscriptions from ``cursor``), or a batch to send: the
    subscriptions (``<account>#<subscription>``) from ``first`` to ``last`` in key order, which the page found
    not sent. ``attempt``: how many batches took these subscriptions on before this one."""

    bucket: str
    page: int = 0
    cursor: str | None = None
    batch_id: str | None = None
    first: str | None = None
    last: str | None = None
    attempt: int = 0

    def following(self, cursor: str) -> DigestWork:
        return replace(self, page=self.page + 1, cursor=cursor)

    def retry(self) -> DigestWork:
        """The batch that takes over this one's subscriptions not sent yet (the markers tell which)."""
        return replace(self, batch_id=retry_batch_id(str(self.batch_id)), attempt=self.attempt + 1)

    def to_json(self) -> dict[str, Any]:
        body = {"bucket": self.bucket, "page": self.page, "cursor": self.cursor, "batch_id": self.batch_id}
        body |= {"first": self.first, "last": self.last, "attempt": self.attempt}
        return {k: v for k, v in body.items() if v is not None and v != 0 or k in ("bucket", "page")}

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any]) -> DigestWork:
        what = "digest work"
        obj = _object(data, what)
        bucket = _str(obj, "bucket", what)
        try:
            windows.bucket_time(bucket)
        except ValueError as exc:
            raise MalformedMessage(f"{what}: field 'bucket' must be a window bucket, got {bucket[:40]!r}") from exc
        batch_id = _str(obj, "batch_id", what, optional=True)
        work = cls(
            bucket,
            _int(obj, "page", what),
            _str(obj, "cursor", what, optional=True),
            batch_id,
            _str(obj, "first", what, optional=batch_id is None),
            _str(obj, "last", what, optional=batch_id is None),
            _int(obj, "attempt", what),
        )
        if work.first is not None and work.last is not None and work.first > work.last:
            raise MalformedMessage(f"{what}: field 'first' must not sort after 'last'")
        return work
