"""Table adapter part: reading releases through the indexes: the release list (GSI2, newest first, filtered,
paged with a cursor checked to be one of ours) and the releases due on the SCHEDULE index (GSI1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.store._base import TableBase, decode_cursor, dump, encode_cursor, load
from chalicelib.adapters.store.items import RELEASES_LIST, release_of
from chalicelib.domain.core.errors import BadRequest
from chalicelib.domain.core.models import Release

# The release list: every release item on GSI2 under one partition, newest first by creation time. Releases
# are made by people (a few a day), so one partition is far from any write limit.
_LIST_KEYS = ("PK", "SK", "GSI2PK", "GSI2SK")
_LIST_ROUNDS = 10  # filtered Query pages read for one answer at most
_LIST_READ = 200  # releases a filtered round evaluates (a release item is ~1 KB: well inside a 1 MB page)


class ReleaseIndexMixin(TableBase):
    # -- the schedule -----------------------------------------------------------------------------
    def due_releases(self, now: str, *, limit: int = 25) -> list[str]:
        """Ids of scheduled releases whose ``notify_at`` has come (one Query page of the SCHEDULE index)."""
        got = self._db.query(
            TableName=self.name,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk AND GSI1SK <= :now",
            ExpressionAttributeValues=dump({":pk": "SCHEDULE", ":now": f"{now}#~"}),
            Limit=limit,
        )
        return [str(load(i)["release_id"]) for i in got.get("Items", [])]

    # -- the release list -------------------------------------------------------------------------
    def list_releases(
        self, where: Mapping[str, str], *, limit: int, cursor: str | None
    ) -> tuple[list[Release], str | None]:
        """Releases newest first, filtered, and the cursor of the next page (None at the end).

        ``where``: ``product``, ``status``, ``kind`` (equal), ``draft`` ("true"/"false"), ``created_from``/``created_to`` and
        ``published_from``/``published_to`` (RFC 3339 UTC, inclusive).

        One Query of GSI2 (``GSI2PK=RELEASES``, the creation time as sort key bounds created between); the
        other filters are a FilterExpression, so a page is read again (at most ``_LIST_ROUNDS`` times) until
        it holds ``limit`` releases or the index ends. The cursor is the key of the last release returned.
        """
        start = _list_start(cursor)
        cond = "GSI2PK = :pk"
        values: dict[str, Any] = {":pk": RELEASES_LIST}
        if where.get("created_from") or where.get("created_to"):
            cond += " AND GSI2SK BETWEEN :c0 AND :c1"
            values[":c0"], values[":c1"] = where.get("created_from", "0"), f"{where.get('created_to', '~')}#~"
        filters, names = _list_filters(where, values)
        kwargs: dict[str, Any] = {
            "IndexName": "GSI2",
            "KeyConditionExpression": cond,
            "ScanIndexForward": False,
            "ExpressionAttributeValues": dump(values),
        }
        if filters:
            kwargs.update(FilterExpression=" AND ".join(filters), ExpressionAttributeNames=names)
        found: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None
        for _ in range(_LIST_ROUNDS):
            if start:
                kwargs["ExclusiveStartKey"] = start
            # Filtered rounds read a full page each (a filter keeps few of them); unfiltered, just what is asked.
            got = self._db.query(TableName=self.name, Limit=_LIST_READ if filters else limit, **kwargs)
            found += [load(i) for i in got.get("Items", [])]
            start = last = got.get("LastEvaluatedKey")
            if not start or len(found) >= limit:
                break
        if len(found) >= limit and (last or len(found) > limit):
            found = found[:limit]
            last = dump({k: found[-1][k] for k in _LIST_KEYS})  # resume after the last release returned
        return [release_of(i) for i in found], encode_cursor(last)


def _list_start(cursor: str | None) -> dict[str, Any] | None:
    """A list cursor back to the key it encodes; anything that is not one of ours is a 400, never a 500."""
    if not cursor:
        return None
    try:
        start: Any = decode_cursor(cursor)
        ok = isinstance(start, dict) and set(start) == set(_LIST_KEYS)
        ok = ok and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in start.values())
        ok = ok and start["GSI2PK"]["S"] == RELEASES_LIST and start["PK"]["S"].startswith("RELEASE#")
    except (ValueError, TypeError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise BadRequest("Query parameter 'cursor' is not a cursor this list gave out.", code="invalid_cursor")
    return dict(start)


def _list_filters(where: Mapping[str, str], values: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    filters: list[str] = []
    names: dict[str, str] = {}
    for field in ("product", "status", "kind"):
        wanted = where.get(field)
        if wanted:
            names[f"#{field}"], values[f":{field}"] = field, wanted
            filters.append(f"#{field} = :{field}")
    if "draft" in where:  # "true" or "false": drafts are available releases held back from publishing
        names["#draft"], values[":draft"] = "draft", where["draft"] == "true"
        filters.append("#draft = :draft")
    if where.get("published_from") or where.get("published_to"):
        names["#pub"] = "published_at"
        values[":p0"], values[":p1"] = where.get("published_from", "0"), where.get("published_to", "~")
        filters.append("#pub BETWEEN :p0 AND :p1")
    return filters, names
