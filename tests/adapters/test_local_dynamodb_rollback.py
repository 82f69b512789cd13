"""The local AWS's DynamoDB transactions (``patchcast_tools/local/dynamodb_fidelity.py`` backs up only the
items a transaction names, as moto's whole-table copy made each one cost O(table)): all or nothing still."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique


def _item(table: Any, pk: str) -> dict[str, Any] | None:
    got: dict[str, Any] | None = table._db.get_item(TableName=table.name, Key=_key(pk), ConsistentRead=True).get("Item")
    return got


def _key(pk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": "T"}}


def test_a_cancelled_transaction_leaves_every_item_as_it_was(table: Any) -> None:
    # GIVEN an existing item, and keys of one that does not exist yet and one that is deleted
    kept, new, doomed = unique("TX#kept"), unique("TX#new"), unique("TX#doomed")
    for pk in (kept, doomed):
        table._db.put_item(TableName=table.name, Item={**_key(pk), "n": {"N": "1"}})
    # WHEN a transaction writes all three and its last condition fails
    with pytest.raises(ClientError) as raised:
        table._db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table.name, "Item": {**_key(new), "n": {"N": "1"}}}},
                {
                    "Update": {
                        "TableName": table.name,
                        "Key": _key(kept),
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": table.name, "Key": _key(doomed)}},
                {
                    "ConditionCheck": {
                        "TableName": table.name,
                        "Key": _key(unique("TX#none")),
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )
    # THEN it is cancelled, and nothing it wrote remains
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _item(table, new) is None
    assert _item(table, kept) == {**_key(kept), "n": {"N": "1"}}
    assert _item(table, doomed) == {**_key(doomed), "n": {"N": "1"}}
