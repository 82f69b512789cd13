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
moto's own filtering, sorting and paging then run on them as before.

Installed in-process by the local AWS (``awsd``) and by the tests' moto server.
"""

from __future__ import annotations

import copy
import threading
from functools import wraps
from typing import Any

_LOCK = threading.RLock()
_IN_TRANSACTION = threading.local()
_QUERYING = threading.local()  # (index name, hash key, hash key conditions) of the Query in progress
_installed = False


class _NoTableCopies:
    """Stands in for ``copy`` inside moto's DynamoDB models: within a transaction the whole-table backup
    becomes a no-op (its restore puts back the very table), and ``_restore`` puts back the items touched."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_IN_TRANSACTION, "on", False) and isinstance(value, Table):
            return value
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

    models.copy = _NoTableCopies()  # type: ignore[assignment]
    original = DynamoDBBackend.transact_write_items

    @wraps(original)
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
    for name in ("put_item", "update_item", "delete_item"):
        single = getattr(DynamoDBBackend, name)
        setattr(DynamoDBBackend, name, _locked(single))
    _installed = True


def _locked(fn: Any) -> Any:
    @wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return fn(*args, **kwargs)

    return call


def _partition_queries() -> None:
    from moto.dynamodb.models.table import Table

    query, all_items = Table.query, Table.all_items

    @wraps(query)
    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        _QUERYING.hint = (index_name, hash_key, kwargs.get("hash_key_conditions") or [])
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _QUERYING.hint = None

    @wraps(all_items)
    def candidates(self: Any) -> list[Any]:
        hint = getattr(_QUERYING, "hint", None)
        if hint is None:
            return all_items(self)  # type: ignore[no-any-return]
        index_name, hash_key, conditions = hint
        if index_name is None:
            part = self.items.get(hash_key)
            if part is None:
                return []
            return list(part.values()) if self.range_key_attr else [part]
        if not conditions or conditions[0][1] is None or getattr(conditions[0][1], "type", None) is None:
            return all_items(self)  # type: ignore[no-any-return]
        name, value = conditions[0]
        return [i for i in _every_item(self) if (got := i.attrs.get(name)) is not None and got == value]

    Table.query = partition_query  # type: ignore[method-assign]
    Table.all_items = candidates  # type: ignore[method-assign]


def _every_item(table: Any) -> Any:
    for part in list(table.items.values()):
        if table.range_key_attr:
            yield from list(part.values())
        else:
            yield part
