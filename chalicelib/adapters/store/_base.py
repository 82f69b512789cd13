"""Plumbing shared by the table adapter's parts: (de)serialising, keys, paging, batches with retries."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.domain.core.errors import Conflict, TransientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_ser = TypeSerializer()
_de = TypeDeserializer()
_BATCH_GET_LIMIT = 100
_BATCH_WRITE_LIMIT = 25


def dump(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in item.items() if v is not None}


def load(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(last_key).encode()).decode() if last_key else None


# A key attribute's value as DynamoDB takes it (else ValidationException): a string, not empty, a partition key
# at most 2,048 bytes, a sort key at most 1,024. Every cursor is a start key of these attributes.
_KEY_BYTES = {"PK": 2048, "GSI1PK": 2048, "GSI2PK": 2048, "SK": 1024, "GSI1SK": 1024, "GSI2SK": 1024}


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """A cursor back to the start key it encodes; ValueError if it is not a key DynamoDB would take."""
    if not cursor:
        return None
    start = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    if not isinstance(start, dict) or not start:
        raise ValueError("a cursor is a key")
    for name, value in start.items():
        text = value.get("S") if isinstance(value, dict) and set(value) == {"S"} else None
        if name not in _KEY_BYTES or not isinstance(text, str) or not 0 < len(text.encode()) <= _KEY_BYTES[name]:
            raise ValueError(f"{name} is not a key attribute's value")
    return start


def is_error(exc: ClientError, *codes: str) -> bool:
    return exc.response.get("Error", {}).get("Code") in codes


def rev_condition(rev: int) -> dict[str, Any]:
    """The condition that an item is still at the revision read (``rev``: 0 for an item never revised)."""
    if rev == 0:  # written before revisions, or never changed since
        return {"ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(rev)"}
    return {"ConditionExpression": "rev = :rev", "ExpressionAttributeValues": dump({":rev": rev})}


class TableBase:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self.name = table_name

    def ping(self) -> None:
        self._db.get_item(TableName=self.name, Key=key("HEALTH", "HEALTH"))

    # -- plumbing ---------------------------------------------------------------------------------
    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs["TableName"] = self.name
        while True:
            page = self._db.query(**kwargs)
            for item in page.get("Items", []):
                yield load(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _page(self, *, limit: int, cursor: str | None, **kwargs: Any) -> tuple[list[dict[str, Any]], str | None]:
        """One Query page from ``cursor`` (None: the first), and the cursor of the next (None at the end)."""
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        got = self._db.query(TableName=self.name, Limit=limit, **kwargs)
        return [load(i) for i in got.get("Items", [])], encode_cursor(got.get("LastEvaluatedKey"))

    def _batch_get(self, keys: Sequence[tuple[str, str]], *, consistent: bool) -> Iterator[dict[str, Any]]:
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            pending: list[dict[str, Any]] = [key(pk, sk) for pk, sk in keys[start : start + _BATCH_GET_LIMIT]]
            for attempt in range(8):
                got: Any = self._db.batch_get_item(
                    RequestItems={self.name: {"Keys": pending, "ConsistentRead": consistent}}
                )
                for item in got.get("Responses", {}).get(self.name, []):
                    yield load(item)
                pending = got.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            if pending:
                raise TransientError(f"DynamoDB left {len(pending)} keys unprocessed after retries")

    def _batch_write(self, items: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(items), _BATCH_WRITE_LIMIT):
            pending: list[Any] = [{"PutRequest": {"Item": dump(i)}} for i in items[start : start + _BATCH_WRITE_LIMIT]]
            for attempt in range(8):
                got = self._db.batch_write_item(RequestItems={self.name: pending})
                pending = list(got.get("UnprocessedItems", {}).get(self.name, []))
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            if pending:
                raise TransientError(f"DynamoDB left {len(pending)} writes unprocessed after retries")

    def _transact(self, actions: list[dict[str, Any]], conflict: str) -> None:
        """One TransactWriteItems; a cancelled one is a ``Conflict`` saying ``conflict``."""
        try:
            self._db.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as exc:
            if is_error(exc, "TransactionCanceledException"):
                raise Conflict(conflict) from exc
            raise
