"""DynamoDB transactions in the local AWS as DynamoDB runs them: atomic, and at the cost of what they touch.

moto 5.1's ``TransactWriteItems`` deep-copies every table a transaction names before it starts, and
restores those copies when it is cancelled. Under concurrency that is not atomic (a cancelled
transaction puts back a copy taken before another thread's write, undoing it), and its cost grows
with the table (a 30,000-item table costs ~0.3 s of CPU per transaction). Here a transaction holds
one lock that every single-item write also takes, and remembers only the items it touches: what
DynamoDB guarantees (serializable against other writes to those items), at O(items touched).

Installed in-process by the local AWS (``awsd``) and by the tests' moto server.
"""

from __future__ import annotations

import copy
import threading
from functools import wraps
from typing import Any

_LOCK = threading.RLock()
_IN_TRANSACTION = threading.local()
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
