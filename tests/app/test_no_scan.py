from __future__ import annotations

import pytest


def test_the_app_table_client_refuses_scans(wired: object) -> None:
    db = wired.table._db  # type: ignore[attr-defined]
    with pytest.raises(AssertionError, match="Scan"):
        db.scan(TableName=wired.table.name)  # type: ignore[attr-defined]
