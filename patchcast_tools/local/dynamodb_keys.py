"""The local DynamoDB refuses a Query's start key as DynamoDB does.

moto 5.1 takes any ``ExclusiveStartKey``: one whose key attribute is an empty string, or longer than a key
may be (a partition key 2,048 bytes, a sort key 1,024), pages on as if it were a key; DynamoDB answers
``ValidationException``, which the app would turn into a 500. Here such a start key gets the error moto
already gives an item with that key (``KeyIsEmptyStringException``, ``HashKeyTooLong``, ``RangeKeyTooLong``),
so a cursor the app does not check fails locally as it would on AWS (``tests/adapters/test_local_dynamodb.py``).

Installed with ``dynamodb_fidelity`` by the local AWS (``awsd``) and by the tests' moto server.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

_installed = False


def check_start_key(table: Any, start: dict[str, Any] | None) -> None:
    """Raise moto's ValidationException for a start key DynamoDB refuses: empty or oversized key values."""
    from moto.dynamodb.exceptions import KeyIsEmptyStringException

    if not start:
        return
    for name in (*table.hash_key_names, *table.range_key_names):
        value = start.get(name)
        if isinstance(value, dict) and any(kind in ("S", "B") and given == "" for kind, given in value.items()):
            raise KeyIsEmptyStringException(name)
    table._validate_key_sizes(start)


def install() -> None:
    """Patch moto's DynamoDB backend's Query in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.dynamodb.models import DynamoDBBackend

    query = DynamoDBBackend.query
    signature = inspect.signature(query)

    @functools.wraps(query)
    def checked_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs).arguments
        check_start_key(self.get_table(bound["table_name"]), bound.get("exclusive_start_key"))
        return query(self, *args, **kwargs)

    DynamoDBBackend.query = checked_query  # type: ignore[method-assign]
    _installed = True
