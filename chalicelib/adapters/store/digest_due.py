"""Table adapter part: what the digest schedule reads: the due index (a key per window bucket that has digest
items, written with them) from its cursor to the last bucket due, and a batch's range of subscriptions.

=====================================  ==============================================================
pattern                                key
=====================================  ==============================================================
a window bucket with items             PK=DIGESTS, SK=DUE#<bucket> (one Query reads the due ones)
the schedule's next bucket             PK=DIGESTS, SK=CURSOR
a batch's subscriptions                PK=DIGEST#<bucket>, SK BETWEEN <first>#  AND <last>#~
=====================================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.adapters.store._base import TableBase, dump, key, load
from chalicelib.adapters.store.digested import digest_pk

DUE = "DUE#"


class DigestDueMixin(TableBase):
    def due_rows(self, buckets: Iterable[str]) -> list[dict[str, Any]]:
        """The due index's items of these buckets, for the BatchWriteItem that queues their items (idempotent)."""
        return [{"PK": "DIGESTS", "SK": f"{DUE}{b}", "type": "digest_due", "bucket": b} for b in sorted(buckets)]

    def due_buckets(self, start: str, end: str) -> list[str]:
        """The buckets from ``start`` to ``end`` (both included) that have digest items, in order: the index's
        Query reads nothing for a quarter hour with no digest (a few hundred keys a week at most)."""
        items = self._query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :a AND :b",
            ExpressionAttributeValues=dump({":pk": "DIGESTS", ":a": f"{DUE}{start}", ":b": f"{DUE}{end}"}),
            ConsistentRead=True,
        )
        return [str(i["bucket"]) for i in items]

    def digest_range(self, bucket: str, first: str, last: str) -> list[dict[str, Any]]:
        """A batch's subscriptions' items and markers (``first`` to ``last``, ``<account>#<sub>``), consistent:
        a marker an earlier attempt wrote is seen."""
        return list(
            self._query(
                KeyConditionExpression="PK = :pk AND SK BETWEEN :a AND :b",
                ExpressionAttributeValues=dump({":pk": digest_pk(bucket), ":a": f"{first}#", ":b": f"{last}#~"}),
                ConsistentRead=True,
            )
        )

    def digest_cursor(self) -> str | None:
        got = self._db.get_item(TableName=self.name, Key=key("DIGESTS", "CURSOR"), ConsistentRead=True).get("Item")
        return str(load(got)["bucket"]) if got else None

    def set_digest_cursor(self, bucket: str) -> None:
        self._db.put_item(TableName=self.name, Item=dump({"PK": "DIGESTS", "SK": "CURSOR", "bucket": bucket}))
