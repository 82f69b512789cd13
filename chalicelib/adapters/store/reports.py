"""Table adapter part: what a release's report and its recall read, and the report's counters.

A report reads counters, never the delivery records: a notice's counters are a few items per release
(``TALLY#<notice>#<shard>``, read by key), each holding ``<tier>#<role>#<status>`` counts (deliveries),
``<tier>#after#<seconds edge>`` (a histogram of SES acceptances after publishing) or
``<tier>#downloaded`` / ``<tier>#downloaders`` (clicks). A delivery batch bumps them in the same
transaction that marks it finished, and only if it was not finished yet, so a batch retried or re-driven
counts once; a click bumps them in the transaction that writes its audit record. Shards (by batch or
subscriber) spread concurrent writers over several items, so their transactions rarely conflict.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import TableBase, dump, is_error, key, load
from chalicelib.adapters.store.digested import settle
from chalicelib.adapters.store.items import delivery_record_of
from chalicelib.domain.core.errors import TransientError
from chalicelib.domain.core.records import DeliveryRecord
from chalicelib.domain.core.states import Notice

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Only what a report or a recall needs: keeps each Query page small (1 MB of items per page).
_DELIVERY_FIELDS = "account_id, subscription_id, email, tier, #r, #s, digest, late_from"
TALLY_SHARDS = 8
TALLIED = (Notice.RELEASE, Notice.RECALL, "download")  # the notices (and clicks) a report counts: 24 keys, one BatchGet
_TRANSACT_ATTEMPTS = 6
_SETTLE_CHUNK = 500  # records settled together: a BatchGet of their digests' markers (100 keys a request)


class ReportsMixin(TableBase):
    def delivery_page(
        self, release_id: str, notice: str, *, limit: int, cursor: str | None
    ) -> tuple[list[DeliveryRecord], str | None]:
        """One page of a notice's delivery records, and the cursor of the next page (None at the end); a record
        queued for a digest as its digest left it (``digested.settle``: one BatchGet, only if the page has any)."""
        items, following = self._page(
            limit=limit,
            cursor=cursor,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=dump({":pk": f"RELEASE#{release_id}", ":sk": f"DELIVERY#{notice}#"}),
            ProjectionExpression=_DELIVERY_FIELDS,
            ExpressionAttributeNames={"#r": "role", "#s": "status"},
        )
        return [delivery_record_of(i) for i in settle(self, release_id, items)], following

    def delivery_outcomes(self, release_id: str, notice: str) -> Iterator[DeliveryRecord]:
        """Every delivery record of one notice, projected (for inspection: the report reads counters)."""
        items = self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=dump({":pk": f"RELEASE#{release_id}", ":sk": f"DELIVERY#{notice}#"}),
            ProjectionExpression=_DELIVERY_FIELDS,
            ExpressionAttributeNames={"#r": "role", "#s": "status"},
        )
        while chunk := list(itertools.islice(items, _SETTLE_CHUNK)):  # streamed: a million records never in memory
            yield from map(delivery_record_of, settle(self, release_id, chunk))

    def first_download(self, release_id: str) -> str | None:
        """When the release was first downloaded: the oldest audit record (one Query, Limit 1)."""
        got = self._db.query(
            TableName=self.name,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=dump({":pk": f"RELEASE#{release_id}", ":sk": "DOWNLOAD#"}),
            ProjectionExpression="#at",
            ExpressionAttributeNames={"#at": "at"},
            Limit=1,
        ).get("Items", [])
        return str(load(got[0])["at"]) if got else None

    def tallies(self, release_id: str) -> dict[str, dict[str, int]]:
        """A release's counters per notice (``release``, ``recall``, ``download``), shards summed: one
        BatchGetItem of every shard's key, whatever the audience (a Query would page past the records)."""
        keys = [
            (f"RELEASE#{release_id}", f"TALLY#{notice}#{shard}") for notice in TALLIED for shard in range(TALLY_SHARDS)
        ]
        found: dict[str, dict[str, int]] = {}
        for item in self._batch_get(keys, consistent=True):
            counts = found.setdefault(str(item["SK"]).split("#")[1], {})
            for name, value in item.items():
                if "#" in name:  # counter attributes; PK, SK and type have none
                    counts[name] = counts.get(name, 0) + int(value)
        return found


def tally_update(table: str, release_id: str, notice: str, shard_by: str, counts: Mapping[str, int]) -> dict[str, Any]:
    """The transaction item that adds ``counts`` to one shard of a notice's counters."""
    shard = int.from_bytes(hashlib.blake2b(shard_by.encode(), digest_size=2).digest(), "big") % TALLY_SHARDS
    wanted = sorted((name, n) for name, n in counts.items() if n)
    return {
        "Update": {
            "TableName": table,
            "Key": key(f"RELEASE#{release_id}", f"TALLY#{notice}#{shard}"),
            "UpdateExpression": "SET #type = :type ADD " + ", ".join(f"#n{i} :n{i}" for i in range(len(wanted))),
            "ExpressionAttributeNames": {"#type": "type", **{f"#n{i}": name for i, (name, _) in enumerate(wanted)}},
            "ExpressionAttributeValues": dump({":type": "tally", **{f":n{i}": n for i, (_, n) in enumerate(wanted)}}),
        }
    }


def transact(db: DynamoDBClient, actions: list[dict[str, Any]]) -> list[str | None] | None:
    """Run a transaction; None when it committed, else the reason code of each action (``None`` where
    the action was fine). Conflicts with another transaction on the same counter are retried."""
    for attempt in range(_TRANSACT_ATTEMPTS):
        try:
            db.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as exc:
            if not is_error(exc, "TransactionCanceledException"):
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]  # type: ignore[attr-defined]
            codes = [None if c in (None, "None") else str(c) for c in reasons]
            if "ConditionalCheckFailed" in codes:
                return codes
            if set(codes) - {None, "TransactionConflict"}:
                raise
            time.sleep(min(0.02 * 2**attempt, 0.5))
            continue
        return None
    raise TransientError("a counter transaction kept conflicting with others; try again")
