"""The local AWS's DynamoDB transactions are atomic as DynamoDB's are (patchcast_tools/local/dynamodb_fidelity.py):
a cancelled transaction undoes its own writes and nobody else's."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique


@pytest.fixture(scope="module")
def ddb(moto_server: str) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_server)
    name = unique("atomic")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client, name


def _put(name: str, pk: str, *, fail: bool = False) -> dict[str, Any]:
    condition = "attribute_exists(PK)" if fail else "attribute_not_exists(PK)"
    return {"Put": {"TableName": name, "Item": {"PK": {"S": pk}}, "ConditionExpression": condition}}


def test_a_cancelled_transaction_undoes_its_own_writes_only(ddb: Any) -> None:
    client, name = ddb
    # GIVEN a transaction whose first write succeeds and whose second fails its condition
    with pytest.raises(ClientError) as refused:
        client.transact_write_items(TransactItems=[_put(name, "mine"), _put(name, "missing", fail=True)])
    # THEN it is cancelled and its first write is gone
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert "Item" not in client.get_item(TableName=name, Key={"PK": {"S": "mine"}})


def test_concurrent_cancelled_transactions_never_undo_another_threads_write(ddb: Any) -> None:
    client, name = ddb

    # GIVEN threads writing items one by one while others run long transactions that end cancelled
    def cancelled(n: int) -> None:
        writes = [_put(name, f"gone-{n}-{i}") for i in range(60)]
        with pytest.raises(ClientError):
            client.transact_write_items(TransactItems=[*writes, _put(name, "nope", fail=True)])

    def kept(n: int) -> None:
        client.put_item(TableName=name, Item={"PK": {"S": f"kept-{n}"}})

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(cancelled if n % 2 else kept, n) for n in range(120)]
        for f in futures:
            f.result()
    # THEN every committed write is there (moto's own whole-table restore loses some) and no cancelled one is
    items = {i["PK"]["S"] for i in client.scan(TableName=name)["Items"]}
    assert {f"kept-{n}" for n in range(0, 120, 2)} <= items
    assert not {i for i in items if i.startswith("gone-")}


def _indexed_table(client: Any, name: str) -> None:
    """A table keyed PK/SK with one index GSI keyed GPK/GSK."""
    s = {"AttributeType": "S"}
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, **s} for n in ("PK", "SK", "GPK", "GSK")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "GSI",
                "KeySchema": [
                    {"AttributeName": "GPK", "KeyType": "HASH"},
                    {"AttributeName": "GSK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture(scope="module")
def indexed(moto_server: str) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_server)
    name = unique("partition")
    _indexed_table(client, name)
    # 3 partitions of 7 items; every third item in index partition "even" or "odd" (sparse: the rest not indexed)
    for p in ("a", "b", "c"):
        for n in range(7):
            item = {"PK": {"S": p}, "SK": {"S": f"{n:02d}"}}
            if n % 3 == 0:
                item |= {"GPK": {"S": "even" if n % 2 == 0 else "odd"}, "GSK": {"S": f"{p}{n}"}}
            client.put_item(TableName=name, Item=item)
    return client, name


def _paged(client: Any, limit: int, label: Any, **query: Any) -> tuple[list[str], int]:
    """Every item of a Query paged ``limit`` at a time (each named by ``label``), and how many pages it took;
    no page holds more than ``limit``."""
    got, start, pages = [], None, 0
    while True:
        page = client.query(**query, Limit=limit, **({"ExclusiveStartKey": start} if start else {}))
        assert page["Count"] == len(page["Items"]) <= limit
        got += [label(i) for i in page["Items"]]
        pages, start = pages + 1, page.get("LastEvaluatedKey")
        if not start:
            return got, pages


def _table_key(item: dict[str, Any]) -> str:
    return f"{item['PK']['S']}/{item['SK']['S']}"


def _pages(client: Any, **query: Any) -> list[str]:
    return _paged(client, 2, _table_key, **query)[0]


@pytest.mark.parametrize("forward", [True, False])
def test_a_table_query_pages_through_its_partition_only_in_key_order(indexed: Any, forward: bool) -> None:
    client, name = indexed
    got = _pages(
        client,
        TableName=name,
        KeyConditionExpression="PK = :p",
        ScanIndexForward=forward,
        ExpressionAttributeValues={":p": {"S": "b"}},
    )
    expected = [f"b/{n:02d}" for n in range(7)]
    assert got == (expected if forward else expected[::-1])


def test_an_index_query_pages_through_its_partition_only_in_index_order(indexed: Any) -> None:
    client, name = indexed
    got = _pages(
        client,
        TableName=name,
        IndexName="GSI",
        KeyConditionExpression="GPK = :g AND GSK > :x",
        ExpressionAttributeValues={":g": {"S": "even"}, ":x": {"S": "a"}},
    )
    assert got == [f"{p}/{n:02d}" for p in ("a", "b", "c") for n in (0, 6)]


@pytest.fixture(scope="module")
def audience(moto_server: str) -> Any:
    """An index partition of 30 items whose index sort key repeats (the table key breaks the ties), among
    other partitions and unindexed items: what fan-out pages through."""
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_server)
    name = unique("window")
    _indexed_table(client, name)
    for n in range(30):
        item = {"PK": {"S": f"s{n:02d}"}, "SK": {"S": "sub"}, "GPK": {"S": "aud"}, "GSK": {"S": f"{n % 3}"}}
        client.put_item(TableName=name, Item={**item, "n": {"N": str(n)}})
        client.put_item(TableName=name, Item={"PK": {"S": f"s{n:02d}"}, "SK": {"S": "other"}})
        client.put_item(TableName=name, Item={**item, "SK": {"S": "x"}, "GPK": {"S": "else"}})
    return client, name


def _in_index_order(forward: bool) -> list[str]:
    ordered = [f"s{n:02d}/sub" for rank in range(3) for n in range(30) if n % 3 == rank]
    return ordered if forward else ordered[::-1]


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("limit", [1, 4, 7, 29, 30, 31])
def test_an_index_query_s_pages_hold_each_item_once_in_order_whatever_the_page_size(
    audience: Any, forward: bool, limit: int
) -> None:
    client, name = audience
    got, pages = _paged(client, limit, _table_key, ScanIndexForward=forward, **_aud_query(name))
    assert got == _in_index_order(forward)
    # as in DynamoDB, a page that stops at Limit has a key even when nothing is left: 30 items at 30 or at 1
    # a page end with one empty page more
    assert pages == 30 // limit + 1


@pytest.mark.parametrize(
    "shape",
    [{}, {"FilterExpression": "n <= :three"}, {"ProjectionExpression": "n"}],
    ids=["plain", "last-filtered-out", "projected"],
)
def test_a_page_that_ends_at_limit_with_the_partition_has_the_last_read_key_and_then_an_empty_page(
    audience: Any, shape: dict[str, Any]
) -> None:
    client, name = audience
    query = {**_aud_query(name), **shape}
    if "FilterExpression" in shape:
        query["ExpressionAttributeValues"] = {**query["ExpressionAttributeValues"], ":three": {"N": "3"}}
    # WHEN the page asks for exactly as many items as the partition holds
    page = client.query(**query, Limit=30)
    # THEN it answers the key of the last item it read (s29, rank 2: filtered out in one shape) ...
    assert page["ScannedCount"] == 30
    assert page["LastEvaluatedKey"] == {
        "PK": {"S": "s29"},
        "SK": {"S": "sub"},
        "GPK": {"S": "aud"},
        "GSK": {"S": "2"},
    }
    # ... and the page after it is empty and has none
    rest = client.query(**query, Limit=30, ExclusiveStartKey=page["LastEvaluatedKey"])
    assert (rest["Items"], rest["ScannedCount"], "LastEvaluatedKey" in rest) == ([], 0, False)


@pytest.mark.parametrize("forward", [True, False])
def test_an_index_page_goes_on_after_its_start_key_when_that_item_is_gone(audience: Any, forward: bool) -> None:
    client, name = audience
    query = {**_aud_query(name), "ScanIndexForward": forward}
    first = client.query(**query, Limit=5)
    gone = first["LastEvaluatedKey"]
    client.delete_item(TableName=name, Key={"PK": gone["PK"], "SK": gone["SK"]})
    try:
        rest = client.query(**query, Limit=5, ExclusiveStartKey=gone)
        assert [_table_key(i) for i in rest["Items"]] == _in_index_order(forward)[5:10]
    finally:
        client.put_item(TableName=name, Item={**gone, "n": {"N": str(int(gone["PK"]["S"][1:]))}})  # as it was


def test_an_index_page_with_a_filter_counts_what_it_read_not_what_it_kept(audience: Any) -> None:
    client, name = audience
    page = client.query(
        TableName=name,
        IndexName="GSI",
        KeyConditionExpression="GPK = :g",
        FilterExpression="n >= :big",
        ExpressionAttributeValues={":g": {"S": "aud"}, ":big": {"N": "27"}},
        Limit=12,
    )
    # the first 12 in index order are n = 0, 3, …, 27 (rank 0) and 1, 4 (rank 1): only 27 passes the filter
    assert [i["n"]["N"] for i in page["Items"]] == ["27"]
    assert page["ScannedCount"] == 12
    assert page["LastEvaluatedKey"]["PK"] == {"S": "s04"}


_EVERY_TYPE = {
    "PK": {"S": "every-type"},
    "s": {"S": "text é"},
    "n": {"N": "4.50"},
    "b": {"B": b"\x00\x01bytes"},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "l": {"L": [{"S": "a"}, {"N": "1"}, {"M": {"k": {"S": "v"}}}]},
    "m": {"M": {"inner": {"S": "deep"}, "list": {"L": [{"BOOL": False}]}}},
    "ss": {"SS": ["x", "y"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
}


def _sorted_sets(item: dict[str, Any]) -> dict[str, Any]:
    """Set members in a stable order: DynamoDB promises none (nor does moto's own projection keep it)."""
    return {k: {t: sorted(v) if t in ("SS", "NS", "BS") else v for t, v in value.items()} for k, value in item.items()}


def test_a_projection_answers_the_attributes_it_names_as_stored_whatever_their_type(ddb: Any) -> None:
    client, name = ddb
    client.put_item(TableName=name, Item=_EVERY_TYPE)
    whole = client.get_item(TableName=name, Key={"PK": {"S": "every-type"}}, ConsistentRead=True)["Item"]
    assert _sorted_sets(whole) == _sorted_sets(_EVERY_TYPE)
    for names in (["s", "n", "b", "t", "z"], ["l", "m", "ss", "ns", "bs"], ["s", "absent"], ["absent"]):
        got = client.get_item(
            TableName=name,
            Key={"PK": {"S": "every-type"}},
            ProjectionExpression=", ".join(f"#a{i}" for i in range(len(names))),
            ExpressionAttributeNames={f"#a{i}": n for i, n in enumerate(names)},
        ).get("Item", {})
        assert _sorted_sets(got) == _sorted_sets({n: _EVERY_TYPE[n] for n in names if n in _EVERY_TYPE})
    # a nested path keeps moto's own projection (which cannot read a binary set back: moto's, not ours)
    client.put_item(TableName=name, Item={k: v for k, v in _EVERY_TYPE.items() if k != "bs"} | {"PK": {"S": "nested"}})
    nested = client.get_item(TableName=name, Key={"PK": {"S": "nested"}}, ProjectionExpression="m.inner, l[0]")["Item"]
    assert nested == {"m": {"M": {"inner": {"S": "deep"}}}, "l": {"L": [{"S": "a"}]}}


def test_an_index_query_s_projection_names_its_attributes_only(audience: Any) -> None:
    client, name = audience
    page = client.query(
        TableName=name,
        IndexName="GSI",
        KeyConditionExpression="GPK = :p",
        ExpressionAttributeValues={":p": {"S": "aud"}},
        ProjectionExpression="n, #missing",
        ExpressionAttributeNames={"#missing": "nowhere"},
        Limit=5,
    )
    assert [i["n"]["N"] for i in page["Items"]] == ["0", "3", "6", "9", "12"]
    assert all(set(i) == {"n"} for i in page["Items"])


def _sized(pk: str, total: int) -> dict[str, Any]:
    """An item of ``total`` bytes as moto measures one (names and values in UTF-8)."""
    fixed = len("PK") + len(pk) + len("pad")
    return {"PK": {"S": pk}, "pad": {"S": "x" * (total - fixed)}}


def test_an_item_over_the_size_limit_is_refused_and_one_at_it_is_kept(ddb: Any) -> None:
    client, name = ddb
    client.put_item(TableName=name, Item=_sized("at-limit", 405_000))
    assert client.get_item(TableName=name, Key={"PK": {"S": "at-limit"}})["Item"]["pad"]["S"].startswith("x")
    with pytest.raises(ClientError) as refused:
        client.put_item(TableName=name, Item=_sized("over-limit", 405_001))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Item size has exceeded" in refused.value.response["Error"]["Message"]
    assert "Item" not in client.get_item(TableName=name, Key={"PK": {"S": "over-limit"}})


@pytest.fixture
def partition(moto_server: str) -> Any:
    """A fresh index partition of 12 items, read once whole (so its order is kept for the next pages)."""
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_server)
    name = unique("kept")
    _indexed_table(client, name)
    for n in range(12):
        client.put_item(TableName=name, Item=_entry(n, f"{n % 4}"))
    assert _index_pages(client, name) == _scanned_order(client, name)
    return client, name


def _entry(n: int, sort_key: str, partition: str = "aud") -> dict[str, Any]:
    return {"PK": {"S": f"s{n:02d}"}, "SK": {"S": "sub"}, "GPK": {"S": partition}, "GSK": {"S": sort_key}}


def _index_pages(client: Any, name: str, limit: int = 5) -> list[str]:
    return _paged(client, limit, lambda i: f"{i['PK']['S']}/{i['GSK']['S']}", **_aud_query(name))[0]


def _aud_query(name: str) -> dict[str, Any]:
    """The Query of the index partition "aud" (what fan-out's audience pages are, in miniature)."""
    return {
        "TableName": name,
        "IndexName": "GSI",
        "KeyConditionExpression": "GPK = :g",
        "ExpressionAttributeValues": {":g": {"S": "aud"}},
    }


def _scanned_order(client: Any, name: str) -> list[str]:
    """The partition in index order as a Scan (which keeps no order) finds it: the truth to page against."""
    items = [i for i in client.scan(TableName=name, ConsistentRead=True)["Items"] if i.get("GPK") == {"S": "aud"}]
    items.sort(key=lambda i: (i["GSK"]["S"], i["PK"]["S"], i["SK"]["S"]))
    return [f"{i['PK']['S']}/{i['GSK']['S']}" for i in items]


def _cancelled_transaction(client: Any, name: str) -> None:
    with pytest.raises(ClientError):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": _entry(40, "0")}},
                {"Put": {"TableName": name, "Item": _entry(0, "9"), "ConditionExpression": "attribute_not_exists(PK)"}},
            ]
        )


_WRITES = {
    "a put into it": lambda c, n: c.put_item(TableName=n, Item=_entry(20, "0")),
    "a put that moves an item out": lambda c, n: c.put_item(TableName=n, Item=_entry(3, "0", partition="else")),
    "a put that moves an item in": lambda c, n: (
        c.put_item(TableName=n, Item=_entry(21, "2", partition="else")),
        _index_pages(c, n),  # its partition kept now: the move must reach both
        c.put_item(TableName=n, Item=_entry(21, "0")),
    ),
    "a delete": lambda c, n: c.delete_item(TableName=n, Key={"PK": {"S": "s05"}, "SK": {"S": "sub"}}),
    "an update of its sort key": lambda c, n: c.update_item(
        TableName=n,
        Key={"PK": {"S": "s00"}, "SK": {"S": "sub"}},
        UpdateExpression="SET GSK = :k",
        ExpressionAttributeValues={":k": {"S": "9"}},
    ),
    "an update that moves an item out": lambda c, n: c.update_item(
        TableName=n,
        Key={"PK": {"S": "s07"}, "SK": {"S": "sub"}},
        UpdateExpression="SET GPK = :p",
        ExpressionAttributeValues={":p": {"S": "else"}},
    ),
    "an update that creates an item in it": lambda c, n: c.update_item(
        TableName=n,
        Key={"PK": {"S": "s30"}, "SK": {"S": "sub"}},
        UpdateExpression="SET GPK = :p, GSK = :k",
        ExpressionAttributeValues={":p": {"S": "aud"}, ":k": {"S": "1"}},
    ),
    "a batch write": lambda c, n: c.batch_write_item(
        RequestItems={
            n: [
                {"PutRequest": {"Item": _entry(22, "3")}},
                {"DeleteRequest": {"Key": {"PK": {"S": "s01"}, "SK": {"S": "sub"}}}},
            ]
        }
    ),
    "a transaction": lambda c, n: c.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": n, "Item": _entry(23, "1")}},
            {"Delete": {"TableName": n, "Key": {"PK": {"S": "s02"}, "SK": {"S": "sub"}}}},
        ]
    ),
    "a cancelled transaction": _cancelled_transaction,
    "a PartiQL update": lambda c, n: c.execute_statement(
        Statement=f"UPDATE \"{n}\" SET GSK = '0' WHERE PK = 's11' AND SK = 'sub'"
    ),
}


@pytest.mark.parametrize("write", list(_WRITES))
def test_an_index_partition_s_kept_order_follows_every_write_to_it(partition: Any, write: str) -> None:
    client, name = partition
    before = _scanned_order(client, name)
    _WRITES[write](client, name)
    after = _scanned_order(client, name)
    assert (after == before) is (write == "a cancelled transaction")  # the write did change the partition
    for limit in (1, 5, 12, 13):
        assert _index_pages(client, name, limit) == after


def test_an_update_expression_parsed_before_runs_with_each_call_s_own_values(ddb: Any) -> None:
    client, name = ddb
    update = {"TableName": name, "Key": {"PK": {"S": "parsed"}}, "UpdateExpression": "SET n = :v ADD c :one"}
    for v in ("first", "second"):
        client.update_item(**update, ExpressionAttributeValues={":v": {"S": v}, ":one": {"N": "1"}})
    assert client.get_item(TableName=name, Key={"PK": {"S": "parsed"}})["Item"] == {
        "PK": {"S": "parsed"},
        "n": {"S": "second"},
        "c": {"N": "2"},
    }
    for _ in range(2):  # a malformed expression is refused every time, not once
        with pytest.raises(ClientError) as refused:
            client.update_item(
                **{**update, "UpdateExpression": "SET n = = :v"}, ExpressionAttributeValues={":v": {"S": "x"}}
            )
        assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_a_query_page_stops_at_a_megabyte_of_items_as_moto_measures_them(ddb: Any) -> None:
    """Items of 100,000 bytes (names and values in UTF-8, a non-ASCII character being two): ten fill the
    1,000,000 bytes of a page, the eleventh does not fit, and the next page goes on from the tenth."""
    client, _ = ddb
    index = unique("sized")
    client.create_table(
        TableName=index,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    accents = "é" * 9_100  # 18,200 bytes: counted as characters, eleven items would fit
    pad = accents + "x" * (100_000 - len("PK") - len("big") - len("SK") - len("s00") - len("pad") - 2 * len(accents))
    for n in range(12):
        client.put_item(TableName=index, Item={"PK": {"S": "big"}, "SK": {"S": f"s{n:02d}"}, "pad": {"S": pad}})
    query = {"TableName": index, "KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "big"}}}
    first = client.query(**query)
    assert first["Count"] == 10 and first["LastEvaluatedKey"]["SK"] == {"S": "s09"}
    rest = client.query(**query, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [i["SK"]["S"] for i in rest["Items"]] == ["s10", "s11"] and "LastEvaluatedKey" not in rest


def test_a_partition_read_while_a_write_lands_in_it_is_not_kept(
    partition: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models.table import Table

    client, name = partition
    # GIVEN the kept order forgotten by a write, so that the next whole read of the partition would keep it
    client.put_item(TableName=name, Item=_entry(20, "0"))
    sort, sorting, go = Table.sorted_items, threading.Event(), threading.Event()

    def paused(self: Any, *args: Any) -> Any:
        if self.name == name and not sorting.is_set():
            sorting.set()
            go.wait(10)
        return sort(self, *args)

    monkeypatch.setattr(Table, "sorted_items", paused)
    # WHEN a Query has taken the partition's items and is sorting them while a write moves one more in
    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(client.query, **_aud_query(name), Limit=5)
        assert sorting.wait(10)
        client.put_item(TableName=name, Item=_entry(21, "0"))
        go.set()
        reading.result()
    # THEN the pages after both hold the write: the read that overlapped it kept no order without it
    assert "s21/0" in _scanned_order(client, name)
    for limit in (1, 5, 13):
        assert _index_pages(client, name, limit) == _scanned_order(client, name)


@pytest.mark.parametrize(
    ("start", "says"),
    [
        ({"PK": {"S": "a"}, "SK": {"S": ""}}, "empty string"),
        ({"PK": {"S": "a"}, "SK": {"S": "x" * 3000}}, "1024 bytes"),
        ({"PK": {"S": "a" * 3000}, "SK": {"S": "01"}}, "2048 bytes"),
        ({"PK": {"S": "a"}, "SK": {"S": "00"}, "GPK": {"S": "even"}, "GSK": {"S": ""}}, "empty string"),
    ],
    ids=["empty sort key", "3,000-character sort key", "3,000-character partition key", "empty index sort key"],
)
def test_a_query_whose_start_key_dynamodb_refuses_is_a_validation_exception_here_too(
    indexed: Any, start: dict[str, Any], says: str
) -> None:
    # GIVEN a start key with an empty or oversized key value (moto paged on from it; DynamoDB refuses it)
    client, name = indexed
    index = {
        "IndexName": "GSI",
        "KeyConditionExpression": "GPK = :p",
        "ExpressionAttributeValues": {":p": {"S": "even"}},
    }
    table = {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}
    # WHEN a Query of the table or of the index starts from it
    with pytest.raises(ClientError) as refused:
        client.query(TableName=name, ExclusiveStartKey=start, Limit=2, **(index if "GPK" in start else table))
    # THEN DynamoDB's answer: ValidationException
    assert refused.value.response["Error"]["Code"] == "ValidationException" and says in str(refused.value), (
        refused.value
    )
    # AND a start key DynamoDB takes still pages on
    got = client.query(TableName=name, ExclusiveStartKey={"PK": {"S": "a"}, "SK": {"S": "01"}}, Limit=2, **table)
    assert [i["SK"]["S"] for i in got["Items"]] == ["02", "03"]
