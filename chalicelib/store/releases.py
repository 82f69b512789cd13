"""Table adapter part: releases, their unique product+kind+version key, and state transitions."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from botocore.exceptions import ClientError

from chalicelib.errors import AlreadyExists, BadRequest
from chalicelib.models import Release, now_iso
from chalicelib.store._base import TableBase, decode_cursor, dump, encode_cursor, is_error, key, load

# The release list: every release item on GSI2 under one partition, newest first by creation time. Releases
# are made by people (a few a day), so one partition is far from any write limit.
_LIST_PK = "RELEASES"
_LIST_KEYS = ("PK", "SK", "GSI2PK", "GSI2SK")
_LIST_ROUNDS = 10  # filtered Query pages read for one answer at most
_LIST_READ = 200  # releases a filtered round evaluates (a release item is ~1 KB: well inside a 1 MB page)


class ReleasesMixin(TableBase):
    # -- releases ---------------------------------------------------------------------------------
    def create_release(self, release: Release) -> None:
        unique = f"RELEASEKEY#{release.product}#{release.kind}#{release.version}"
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.name,
                            "Item": dump({"PK": unique, "SK": "RELEASEKEY", "release_id": release.release_id}),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.name,
                            "Item": dump(_release_item(release)),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if is_error(exc, "TransactionCanceledException"):
                raise AlreadyExists(
                    f"{release.product} {release.kind} {release.version} already exists; versions are never reused."
                ) from exc
            raise

    def get_release(self, release_id: str, *, consistent: bool = False) -> Release | None:
        got = self._db.get_item(
            TableName=self.name, Key=key(f"RELEASE#{release_id}", "RELEASE"), ConsistentRead=consistent
        ).get("Item")
        return _release(load(got)) if got else None

    def transition_release(
        self, release_id: str, *, from_status: Sequence[str], to_status: str, due_by: str | None = None, **fields: Any
    ) -> Release | None:
        """Move a release between states atomically; None when it was not in one of ``from_status`` (or,
        with ``due_by``, its ``notify_at`` is later: an edit moved it after the schedule read the index).

        Any state but ``scheduled`` takes the release off the SCHEDULE index (``schedule_release`` puts it
        on), so the index holds exactly the releases waiting for their time.
        """
        names = {"#s": "status"}
        values: dict[str, Any] = {":to": to_status}
        sets = ["#s = :to"]
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = value
            sets.append(f"#f{i} = :f{i}")
        update = "SET " + ", ".join(sets) + ("" if to_status == "scheduled" else " REMOVE GSI1PK, GSI1SK")
        allowed = []
        for i, status in enumerate(from_status):
            values[f":from{i}"] = status
            allowed.append(f":from{i}")
        condition = f"attribute_exists(PK) AND #s IN ({', '.join(allowed)})"
        if due_by is not None:
            names["#due"], values[":due"] = "notify_at", due_by
            condition += " AND #due <= :due"
        return self._update_release(release_id, update, condition, names, values)

    def _update_release(
        self, release_id: str, update: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> Release | None:
        """One conditional UpdateItem of a release: the release after it, or None when the condition failed."""
        try:
            got = self._db.update_item(
                TableName=self.name,
                Key=key(f"RELEASE#{release_id}", "RELEASE"),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=dump(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_error(exc, "ConditionalCheckFailedException"):
                return None
            raise
        return _release(load(got["Attributes"]))

    def schedule_release(self, release: Release) -> Release | None:
        """available -> scheduled, listed on the SCHEDULE index (GSI1) under its ``notify_at``."""
        return self.transition_release(
            release.release_id,
            from_status=["available"],
            to_status="scheduled",
            GSI1PK="SCHEDULE",
            GSI1SK=f"{release.notify_at}#{release.release_id}",
        )

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

    def set_release_fields(self, release_id: str, *, in_status: str, **fields: Any) -> Release | None:
        """Set fields of a release while it is in ``in_status``; None when it is not (or does not exist)."""
        return self.transition_release(release_id, from_status=[in_status], to_status=in_status, **fields)

    def claim_queueing(self, release_id: str, notice: Literal["fanout", "recall"], *, lease_seconds: int) -> bool:
        """Take the right to queue the first page of a notice: True for one caller at a time, never once
        ``<notice>_at`` says it is queued; a caller that died holding it is overtaken after ``lease_seconds``."""
        now = int(time.time())
        try:
            self._db.update_item(
                TableName=self.name,
                Key=key(f"RELEASE#{release_id}", "RELEASE"),
                UpdateExpression="SET #q = :until",
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(#at) "
                "AND (attribute_not_exists(#q) OR #q < :now)",
                ExpressionAttributeNames={"#q": f"{notice}_queueing", "#at": f"{notice}_at"},
                ExpressionAttributeValues=dump({":until": now + lease_seconds, ":now": now}),
            )
        except ClientError as exc:
            if is_error(exc, "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def mark_queued(self, release_id: str, notice: Literal["fanout", "recall"]) -> None:
        """Stamp ``fanout_at`` / ``recall_at``: the first page of that notice is on the queue (queue it once)."""
        self._db.update_item(
            TableName=self.name,
            Key=key(f"RELEASE#{release_id}", "RELEASE"),
            UpdateExpression=f"SET {notice}_at = :t",
            ExpressionAttributeValues=dump({":t": now_iso()}),
        )

    def edit_release(self, release_id: str, *, in_status: str, fields: dict[str, Any]) -> Release | None:
        """Change a release not yet published, in one conditional write; None when it is no longer
        ``in_status`` (a publish got there first: nothing is written).

        The status after the edit and the SCHEDULE index entry move together with ``notify_at`` and
        ``draft``: scheduled (on the index) when not a draft and a time is set, else available (off it);
        a release still awaiting its upload stays so (verification decides then).
        """
        target = in_status
        if in_status != "awaiting-upload":
            target = "scheduled" if fields["notify_at"] and not fields["draft"] else "available"
        names = {"#s": "status", **{f"#f{i}": n for i, n in enumerate(fields)}}
        values: dict[str, Any] = {":in": in_status, ":to": target}
        sets, removes = ["#s = :to"], []
        for i, value in enumerate(fields.values()):
            if value is None:
                removes.append(f"#f{i}")
            else:
                values[f":f{i}"] = value
                sets.append(f"#f{i} = :f{i}")
        if target == "scheduled":
            values[":g1pk"], values[":g1sk"] = "SCHEDULE", f"{fields['notify_at']}#{release_id}"
            sets += ["GSI1PK = :g1pk", "GSI1SK = :g1sk"]
        else:
            removes += ["GSI1PK", "GSI1SK"]
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        return self._update_release(release_id, update, "attribute_exists(PK) AND #s = :in", names, values)

    def list_releases(
        self, where: Mapping[str, str], *, limit: int, cursor: str | None
    ) -> tuple[list[Release], str | None]:
        """Releases newest first, filtered, and the cursor of the next page (None at the end).

        ``where``: ``product``, ``status``, ``kind`` (equal), ``created_from``/``created_to`` and
        ``published_from``/``published_to`` (RFC 3339 UTC, inclusive).

        One Query of GSI2 (``GSI2PK=RELEASES``, the creation time as sort key bounds created between); the
        other filters are a FilterExpression, so a page is read again (at most ``_LIST_ROUNDS`` times) until
        it holds ``limit`` releases or the index ends. The cursor is the key of the last release returned.
        """
        start = _list_start(cursor)
        cond = "GSI2PK = :pk"
        values: dict[str, Any] = {":pk": _LIST_PK}
        if where.get("created_from") or where.get("created_to"):
            cond += " AND GSI2SK BETWEEN :c0 AND :c1"
            values[":c0"], values[":c1"] = where.get("created_from", "0"), f"{where.get('created_to', '~')}#~"
        filters, names = _list_filters(where, values)
        kwargs: dict[str, Any] = {"IndexName": "GSI2", "KeyConditionExpression": cond, "ScanIndexForward": False,
                                  "ExpressionAttributeValues": dump(values)}  # fmt: skip
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
        return [_release(i) for i in found], encode_cursor(last)

    # -- fan-out pages ----------------------------------------------------------------------------
    def claim_page(self, release_id: str, notice: str, page: int, *, lease_seconds: int) -> str:
        """Take one fan-out page of a notice: ``claimed``, ``done`` (planned earlier) or ``busy`` (held elsewhere).

        A page is done once the page after it is claimed (planning enqueues its successor last) or, for the
        last page, once ``finish_page`` said so. The claim is one conditional write: the page not claimed,
        or its lease run out and not finished. Only a claim that took over a lease (rare: a dead invocation,
        or a copy of the message delivered late) reads whether the successor exists, and if so the page is
        done after all. (Not a transaction with a check of the successor: the local AWS copies the whole
        table for every transaction, and fails some under concurrent writes.)
        """
        now = int(time.time())
        pk, this, after = f"RELEASE#{release_id}", f"PAGE#{notice}#{page}", f"PAGE#{notice}#{page + 1}"
        try:
            old = self._db.update_item(
                TableName=self.name,
                Key=key(pk, this),
                UpdateExpression="SET lease_until = :until, attempts = if_not_exists(attempts, :zero) + :one",
                ConditionExpression="attribute_not_exists(PK) OR (attribute_not_exists(done_at) AND lease_until < :now)",
                ExpressionAttributeValues=dump({":until": now + lease_seconds, ":now": now, ":zero": 0, ":one": 1}),
                ReturnValues="UPDATED_OLD",
            ).get("Attributes")
        except ClientError as exc:
            if not is_error(exc, "ConditionalCheckFailedException"):
                raise
            got = {str(i["SK"]): i for i in self._batch_get([(pk, after), (pk, this)], consistent=True)}
            return "done" if after in got or "done_at" in got.get(this, {}) else "busy"
        if old and self._db.get_item(TableName=self.name, Key=key(pk, after), ConsistentRead=True).get("Item"):
            self.finish_page(release_id, notice, page)
            return "done"
        return "claimed"

    def finish_page(self, release_id: str, notice: str, page: int) -> None:
        """The last page of a notice has no successor to show it is done: it says so itself."""
        self._db.update_item(
            TableName=self.name,
            Key=key(f"RELEASE#{release_id}", f"PAGE#{notice}#{page}"),
            UpdateExpression="SET done_at = :t",
            ExpressionAttributeValues=dump({":t": now_iso()}),
        )


_RELEASE_FIELDS = (
    "product", "version", "kind", "channel", "title", "summary", "status", "created_at", "created_by",
    "filename", "sha256", "article_url", "notify_at", "object_key", "published_at", "fanout_at", "reason",
    "upload_id", "superseded_by", "superseded_version", "yanked_at", "recall_at", "object_version",
    "announcement_id",
)  # fmt: skip


def _release_item(r: Release) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": f"RELEASE#{r.release_id}",
        "SK": "RELEASE",
        "type": "release",
        "release_id": r.release_id,
        "GSI2PK": _LIST_PK,
        "GSI2SK": f"{r.created_at}#{r.release_id}",
    }
    item.update({f: getattr(r, f) for f in _RELEASE_FIELDS})
    item.update({"severity": r.severity, "size": r.size, "draft": r.draft, "part_size": r.part_size})
    return item


def _release(i: dict[str, Any]) -> Release:
    return Release(
        release_id=i["release_id"],
        severity=int(i["severity"]),
        size=int(i["size"]) if i.get("size") is not None else None,
        part_size=int(i["part_size"]) if i.get("part_size") is not None else None,
        draft=bool(i.get("draft", False)),
        **{f: i.get(f) for f in _RELEASE_FIELDS},  # type: ignore[arg-type]
    )


def _list_start(cursor: str | None) -> dict[str, Any] | None:
    """A list cursor back to the key it encodes; anything that is not one of ours is a 400, never a 500."""
    if not cursor:
        return None
    try:
        start: Any = decode_cursor(cursor)
        ok = isinstance(start, dict) and set(start) == set(_LIST_KEYS)
        ok = ok and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in start.values())
        ok = ok and start["GSI2PK"]["S"] == _LIST_PK and start["PK"]["S"].startswith("RELEASE#")
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
    if where.get("published_from") or where.get("published_to"):
        names["#pub"] = "published_at"
        values[":p0"], values[":p1"] = where.get("published_from", "0"), where.get("published_to", "~")
        filters.append("#pub BETWEEN :p0 AND :p1")
    return filters, names
