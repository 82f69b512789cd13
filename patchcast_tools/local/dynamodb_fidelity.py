"""DynamoDB in the local AWS closer to DynamoDB's costs: transactions atomic and O(items touched); a table
Query O(partition), an index Query one pass over the items instead of a sort of the whole table.

moto 5.1's ``TransactWriteItems`` deep-copies every table a transaction names before it starts, and
restores those copies when it is cancelled. Under concurrency that is not atomic (a cancelled
transaction puts back a copy taken before another thread's write, undoing it), and its cost grows
with the table (a 30,000-item table costs ~0.3 s of CPU per transaction). Here a transaction holds
one lock that every single-item write also takes, and remembers only the items it touches: what
DynamoDB guarantees (serializable against other writes to those items), at O(items touched).

moto's ``Query`` (on the table or an index) starts from ``Table.all_items()``, which sorts every item
of the table, then keeps the partition asked for: each page cost O(N log N) Python comparisons (~5 s
for a 490-item page at 100,000 subscribers), where DynamoDB reads the partition. Here, during a Query,
``all_items`` yields only candidates: the table partition's items (a dict lookup), or the items whose index
hash key attribute has the value asked for (one pass over the items, no sort: still O(N), a cheap O(N));
moto's own filtering, sorting and paging then run on them as before. Its index sort converts each key once
(not at every comparison), and when the page is simply the next ``Limit`` items after the start key (no
key range, no legacy filter), it hands moto's paging loop only that window: at 10,000 subscribers in a
30,000-item table, 21 audience pages of 490 took 12.5 s of CPU (server and client), and take 3.2 s now.
``tests/adapters/test_local_dynamodb.py`` pages forward and back at six page sizes against the index order.
The order of an index partition read whole is kept for its next pages (DynamoDB's index is ordered; moto
re-sorts it at every page) until a write touches the partition: every put, delete and update forgets the
partitions of the item as it was and as it is, and a partition read while a write touched it is not kept
(the tests page after each kind of write). A page is copied item by item, not deep-copied.

A Query that stops at ``Limit`` answers a ``LastEvaluatedKey``, as DynamoDB does, also when its last item is
the partition's last (moto answers one only when one more item exists): the next page is then empty and
has no key, and every reader of pages meets that page here as it would in AWS.

moto's ``Item`` re-sums the whole item's size as each attribute is added (quadratic in attributes: a
third of the local DynamoDB's CPU in ``make bench`` went to building items), and projects an item by
round-tripping it through Python values. Here an item is checked against the same limit once, and a
projection to top-level attributes picks them (the answers are the same, as the tests show).

Installed in-process by the local AWS (``awsd``) and by the tests' moto server, with ``dynamodb_keys`` (start
keys refused as DynamoDB refuses them).
"""

from __future__ import annotations

import bisect
import copy
import functools
import inspect
import threading
from typing import Any, NamedTuple

from patchcast_tools.local import dynamodb_keys

_LOCK = threading.RLock()
_IN_TRANSACTION = threading.local()
_QUERYING = threading.local()  # the Query in progress: its hint, and the partition it is reading whole (build)
_installed = False
_AS_GIVEN = frozenset({"S", "B"})
_MOTO_ITEM_LIMIT = 405_000  # LimitedSizeDict's: DynamoDB's 400 KB, as moto measured it


class _NoTableCopies:
    """Stands in for ``copy`` inside moto's DynamoDB models: within a transaction the whole-table backup
    becomes a no-op (its restore puts back the very table), and ``_restore`` puts back the items touched.
    A Query's page is copied item by item (each its own attribute dict, the values shared: nothing on the
    way to the response changes a value in place), not deep-copied value by value."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_IN_TRANSACTION, "on", False) and isinstance(value, Table):
            return value
        if getattr(_QUERYING, "hint", None) is not None and isinstance(value, list):
            return [_detached(item) for item in value]
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _key_of(backend: Any, op: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None
    if "Key" in op:
        return table.name, op["Key"]
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    if not all(n in op.get("Item", {}) for n in names):
        return None  # moto refuses it itself
    return table.name, {n: op["Item"][n] for n in names}


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], Any]]:
    taken = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        found = _key_of(backend, op) if isinstance(op, dict) else None
        if found is None:
            continue
        name, key = found
        try:
            current = backend.get_item(name, key)
        except Exception:  # noqa: BLE001 - a malformed key: moto answers it with its own validation error
            continue
        taken.append((name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
    return taken


def _restore(backend: Any, taken: list[tuple[str, dict[str, Any], Any]]) -> None:
    for name, key, attributes in reversed(taken):
        if attributes is None:
            if backend.get_item(name, key) is not None:
                backend.delete_item(name, key)
        else:
            backend.put_item(name, attributes)


def install() -> None:
    """Patch moto's DynamoDB backend in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models import table as table_module

    models.copy = _NoTableCopies()  # type: ignore[assignment]
    table_module.copy = _NoTableCopies()  # type: ignore[assignment]
    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        with _LOCK:
            taken = _snapshot(self, transact_items)
            _IN_TRANSACTION.on = True
            try:
                return original(self, transact_items)
            except BaseException:
                _restore(self, taken)
                raise
            finally:
                _IN_TRANSACTION.on = False

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _partition_queries()
    _kept_orders_follow_writes()
    _fast_equality()
    _lean_items()
    _parsed_once()
    for name in ("put_item", "update_item", "delete_item"):
        single = getattr(DynamoDBBackend, name)
        setattr(DynamoDBBackend, name, _locked(single))
    _installed = True
    dynamodb_keys.install()


def _locked(fn: Any) -> Any:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return fn(*args, **kwargs)

    return call


def _partition_queries() -> None:
    from moto.dynamodb.models.table import Table

    query, all_items = Table.query, Table.all_items
    signature = inspect.signature(query)

    @functools.wraps(query)
    def partition_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs).arguments
        _QUERYING.hint = _Hint(
            index_name=bound.get("index_name"),
            hash_key=bound.get("hash_key"),
            conditions=bound.get("hash_key_conditions") or [],
            # a page can be cut to its window only when every candidate past the start key counts toward Limit
            window=(
                bound.get("limit") or None
                if not bound.get("range_comparison") and not bound.get("filter_kwargs")
                else None
            ),
            start=bound.get("exclusive_start_key"),
            forward=bound.get("scan_index_forward") is not False,
            # the partition is the index's items with this one hash key value (no multi-attribute key parts)
            simple=len(bound.get("hash_key_conditions") or []) == 1
            and len(bound.get("range_key_conditions") or []) <= 1,
        )
        try:
            results, scanned, last_key = query(self, *args, **kwargs)
        finally:
            _QUERYING.hint = _QUERYING.build = None
        limit = bound.get("limit")
        if last_key is None and limit and scanned == limit and not bound.get("filter_kwargs"):
            last_key = _last_evaluated(self, partition_query, bound, results)
        return results, scanned, last_key

    @functools.wraps(all_items)
    def candidates(self: Any) -> list[Any]:
        hint: _Hint | None = getattr(_QUERYING, "hint", None)
        if hint is None:
            return all_items(self)  # type: ignore[no-any-return]
        if hint.index_name is None:
            part = self.items.get(hint.hash_key)
            if part is None:
                return []
            return list(part.values()) if self.range_key_attr else [part]
        conditions = hint.conditions
        if not conditions or conditions[0][1] is None or getattr(conditions[0][1], "type", None) is None:
            return all_items(self)  # type: ignore[no-any-return]
        name, value = conditions[0]
        if hint.simple:
            key = (hint.index_name, name, value.type, _plain(value))
            with _LOCK:
                kept: _Partition | None = _orders(self).get(key)
                _QUERYING.build = None if kept is not None else (key, _generation(self, key))
            if kept is not None:
                return kept.items if hint.window is None else _window(kept.keys, kept.items, kept.attrs, hint)
        return [i for i in _every_item(self) if (got := i.attrs.get(name)) is not None and _same(got, value)]

    Table.query = partition_query  # type: ignore[method-assign]
    Table.all_items = candidates  # type: ignore[method-assign]
    Table.sorted_items = _sorted_window  # type: ignore[method-assign]


def _last_evaluated(table: Any, run: Any, bound: dict[str, Any], results: list[Any]) -> dict[str, Any] | None:
    """The key DynamoDB answers when a Query stops at ``Limit``: the last item it evaluated, even when no item
    is left after it (then the next page is empty, without a key). moto gives a key only when one more item
    exists. The last evaluated item may have been filtered out or projected away: then the page is read again
    without its filter and projection (only for a page that ends exactly at the end of its items)."""
    index_name = bound.get("index_name")
    if bound.get("filter_expression") is None and not bound.get("projection_expressions"):
        return table._get_last_evaluated_key(results[-1], index_name)  # type: ignore[no-any-return]
    raw = {k: v for k, v in bound.items() if k not in ("self", "filter_kwargs")}
    return run(table, **{**raw, "filter_expression": None, "projection_expressions": None})[2]  # type: ignore[no-any-return]


class _Hint(NamedTuple):
    index_name: str | None
    hash_key: Any
    conditions: list[tuple[str, Any]]
    window: int | None  # Limit, when the page is the next Limit candidates after the start key
    start: dict[str, Any] | None
    forward: bool
    simple: bool = False


class _Partition(NamedTuple):
    """An index partition in index order, as moto's Query sorts it: what later pages of it start from."""

    attrs: list[str]  # the attributes it is ordered by
    keys: list[tuple[Any, ...]]  # each item's values of them, ascending
    items: list[Any]


def _same(got: Any, value: Any) -> bool:
    """``DynamoType.__eq__`` without its conversions where there is nothing to convert (strings, binary)."""
    if got.type != value.type:
        return False
    return bool(got.value == value.value) if got.type in _AS_GIVEN else bool(got.cast_value == value.cast_value)


def _plain(value: Any) -> Any:
    """``DynamoType.cast_value``, without its five type tests for a string or binary value."""
    return value.value if value.type in _AS_GIVEN else value.cast_value


def _fast_equality() -> None:
    """The same answers as moto's ``DynamoType`` equality, which converts both sides at every call."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    DynamoType.__eq__ = _same  # type: ignore[method-assign, assignment]
    DynamoType.__ne__ = lambda self, other: not _same(self, other)  # type: ignore[method-assign, assignment]


def _sorted_window(
    self: Any, hash_key_attrs: list[str], range_key_attrs: list[str | None], items: list[Any]
) -> list[Any]:
    """moto's index sort, with each item's key converted once instead of at every comparison (key attributes
    have one type, so comparing converted values orders as comparing ``DynamoType``s does), kept for the
    partition's next pages (until a write touches it); then, during a Query whose page is its next ``Limit``
    candidates, only the window moto's paging loop will walk."""
    attrs = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
    keyed = sorted(((tuple(_plain(i.attrs[a]) for a in attrs), i) for i in items), key=lambda pair: pair[0])
    ordered = [i for _, i in keyed]
    keys = [k for k, _ in keyed]
    build = getattr(_QUERYING, "build", None)
    if build is not None:  # the whole partition, as moto filtered it from our candidates
        _QUERYING.build = None
        key, generation = build
        with _LOCK:
            if _generation(self, key) == generation:  # no write touched it while it was read
                _orders(self)[key] = _Partition(attrs, keys, ordered)
    hint: _Hint | None = getattr(_QUERYING, "hint", None)
    if hint is None or hint.window is None or hint.index_name is None:
        return ordered
    return _window(keys, ordered, attrs, hint)


def _window(keys: list[tuple[Any, ...]], ordered: list[Any], attrs: list[str], hint: _Hint) -> list[Any]:
    """The items moto's paging loop walks for a page of ``Limit``: the start key's neighbourhood and
    ``Limit`` + 1 past it (the one more tells moto there is a next page)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    start = hint.start
    if start is not None and not all(a in start for a in attrs):
        return ordered  # a partial start key: moto's own loop decides
    at = tuple(_plain(DynamoType(start[a])) for a in attrs) if start is not None else None
    span = (hint.window or 0) + 2  # the start item itself (moto skips it), the page, and one more
    if hint.forward:
        first = 0 if at is None else bisect.bisect_left(keys, at)
        return ordered[first : first + span]
    last = len(ordered) if at is None else bisect.bisect_right(keys, at)
    return ordered[max(0, last - span) : last]  # moto reverses it and walks from the start key down


def _orders(table: Any) -> dict[tuple[Any, ...], _Partition]:
    """The table's index partitions kept in order (in the table object: a new table starts with none)."""
    return table.__dict__.setdefault("_patchcast_orders", {})  # type: ignore[no-any-return]


def _writes(table: Any) -> dict[tuple[Any, ...], int]:
    """How many writes have touched each index partition of the table: one read while one did is not kept."""
    return table.__dict__.setdefault("_patchcast_writes", {})  # type: ignore[no-any-return]


def _generation(table: Any, key: tuple[Any, ...]) -> int:
    return _writes(table).get(key, 0)


def _touched(table: Any, *items: Any) -> None:
    """A write changed these items (as they were, and as they are): forget the partitions they are in."""
    _forget(table, [key for item in items for key in _partitions_of(table, item)])


def _forget(table: Any, keys: list[tuple[Any, ...]]) -> None:
    orders, counts = _orders(table), _writes(table)
    for key in keys:
        orders.pop(key, None)
        counts[key] = counts.get(key, 0) + 1


def _partitions_of(table: Any, item: Any) -> list[tuple[Any, ...]]:
    if item is None:
        return []
    found = []
    for index in (*table.global_indexes, *table.indexes):
        for part in index.schema:
            value = item.attrs.get(part["AttributeName"]) if part["KeyType"] == "HASH" else None
            if value is not None and value.type in ("S", "N", "B"):
                found.append((index.name, part["AttributeName"], value.type, _plain(value)))
    return found


def _stored(table: Any, attrs: dict[str, Any]) -> Any:
    """The item stored under the key in ``attrs`` (None if none, or if the key is malformed: moto says why)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        return table.get_item(hash_key, range_key)
    except Exception:  # noqa: BLE001 - the write itself answers a malformed key with moto's own error
        return None


def _kept_orders_follow_writes() -> None:
    """Every way an item changes forgets the kept order of the partitions it was or is in: a put (which
    may replace an item of another partition), a delete, an update (in place). Batches, transactions and
    PartiQL statements write through these."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    put, delete, update = Table.put_item, Table.delete_item, DynamoDBBackend.update_item

    @functools.wraps(put)
    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            before = _stored(self, item_attrs)
            item = put(self, item_attrs, *args, **kwargs)
            _touched(self, before, item)
            return item

    @functools.wraps(delete)
    def delete_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            item = delete(self, *args, **kwargs)
            _touched(self, item)
            return item

    @functools.wraps(update)
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            table = self.get_table(table_name)
            before = _partitions_of(table, _stored(table, key))  # the item changes in place: read its keys first
            try:
                return update(self, table_name, key, *args, **kwargs)
            finally:
                _forget(table, before + _partitions_of(table, _stored(table, key)))

    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]


def _lean_items() -> None:
    """moto's ``Item`` without its quadratic work: building one re-sums the whole item's size at every
    attribute (``LimitedSizeDict``), and a projection to top-level attributes round-trips the item through
    Python values and back. Here an item is built and checked against moto's size limit once, and such a
    projection picks the attributes it names (what it answers is the same; nested paths keep moto's own).
    An item's size (each page and batch of reads sums it against its limit) measures a string in place."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    project = Item.project

    def size(self: Any) -> int:
        return _size_of(self.attrs)

    def build(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key, self.range_key = hash_key, range_key
        values = {name: DynamoType(value) for name, value in attrs.items()}
        # the same test moto makes as each attribute is added: sizes only grow, so the last one decides
        if _size_of(values) > _MOTO_ITEM_LIMIT:
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict(values)  # dict's own update: no per-attribute re-sum

    def picked(self: Any, projection_expressions: list[list[str]]) -> Any:
        if any(len(path) != 1 for path in projection_expressions):
            return project(self, projection_expressions)
        return _twin(self, {path[0]: self.attrs[path[0]] for path in projection_expressions if path[0] in self.attrs})

    Item.__init__ = build  # type: ignore[method-assign]
    Item.project = picked  # type: ignore[method-assign]
    Item.size = size  # type: ignore[method-assign]


def _size_of(attrs: dict[str, Any]) -> int:
    """moto's size of an item's attributes (UTF-8 bytes of each name and value, ``DynamoType.size``), with a
    string's counted without encoding it when it is ASCII (the same number)."""
    total = 0
    for name, value in attrs.items():
        total += len(name) if name.isascii() else len(name.encode("utf-8"))
        if value.type == "S":
            text = value.value
            total += len(text) if text.isascii() else len(text.encode("utf-8"))
        else:
            total += value.size()
    return total


def _parsed_once() -> None:
    """moto parses an UpdateItem's update expression twice (the handler to check its names and values, the
    backend to run it) and again at every call. The parse of an expression is kept (the last 256): both read
    it, and the backend's validation works on a deep copy of it. A malformed expression still raises each
    time (a raise is not kept)."""
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    make = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
    kept = functools.lru_cache(maxsize=256)(lambda expression: make(UpdateExpressionParser, expression))
    UpdateExpressionParser.make = staticmethod(kept)  # type: ignore[assignment, method-assign]


def _detached(item: Any) -> Any:
    return _twin(item, item.attrs)


def _twin(item: Any, attrs: dict[str, Any]) -> Any:
    """An item with ``item``'s key and these attributes in a dict of its own (the values shared, as given)."""
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    twin: Any = Item.__new__(Item)
    twin.hash_key, twin.range_key, twin.attrs = item.hash_key, item.range_key, LimitedSizeDict(attrs)
    return twin


def _every_item(table: Any) -> Any:
    for part in list(table.items.values()):
        if table.range_key_attr:
            yield from list(part.values())
        else:
            yield part
