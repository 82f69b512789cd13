"""The store contract's fixture: each scenario of tests/adapters/test_store_contract*.py runs on the in-memory store
(tests/memory_store.py) and on the real table (the session's moto server)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.memory_store import MemoryStore


@pytest.fixture(params=["memory", "table"])
def store(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemoryStore()
    return request.getfixturevalue("table")
