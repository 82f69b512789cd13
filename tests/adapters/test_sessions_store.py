"""The portal's session records and used codes in the table (store/sessions.py), on the session's moto."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import unique


def test_a_session_reads_back_until_it_expires_and_is_gone_once_deleted(table: Any) -> None:
    live, old = unique("s"), unique("s")
    table.put_session(live, id_token="t1", refresh_token="r1", expires_at=int(time.time()) + 60)
    table.put_session(old, id_token="t1", refresh_token="r1", expires_at=int(time.time()) - 1)
    assert table.get_session(live)["id_token"] == "t1" and table.get_session(old) is None  # TTL lags: read as gone
    table.delete_session(live)
    assert table.get_session(live) is None


def test_renewing_a_session_signed_out_meanwhile_writes_nothing(table: Any) -> None:
    sid = unique("s")
    table.put_session(sid, id_token="t1", refresh_token="r1", expires_at=int(time.time()) + 60)
    assert table.refresh_session(sid, id_token="t2", refresh_token="r2") is True
    assert table.get_session(sid)["id_token"] == "t2"
    table.delete_session(sid)
    assert table.refresh_session(sid, id_token="t3", refresh_token="r3") is False
    raw = table._db.get_item(TableName=table.name, Key={"PK": {"S": f"SESSION#{sid}"}, "SK": {"S": "SESSION"}})
    assert "Item" not in raw  # no half-made session from the update
    expired = unique("s")
    table.put_session(expired, id_token="t1", refresh_token="r1", expires_at=int(time.time()) - 1)
    assert table.refresh_session(expired, id_token="t2", refresh_token="r2") is False


def test_a_code_is_used_once(table: Any) -> None:
    code = unique("c")
    assert table.use_code(code, expires_at=int(time.time()) + 60) is True
    assert table.use_code(code, expires_at=int(time.time()) + 60) is False
