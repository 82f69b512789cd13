"""Table adapter part: releases, their unique product+kind+version key, and state transitions (which also put a
release on the SCHEDULE index, GSI1, and take it off; ``store/release_index.py`` reads that index and the list)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import TableBase, dump, is_error, key, load
from chalicelib.adapters.store.items import release_item, release_of
from chalicelib.domain.core.errors import AlreadyExists
from chalicelib.domain.core.models import Release
from chalicelib.domain.core.states import ReleaseStatus


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
                            "Item": dump(release_item(release)),
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
        return release_of(load(got)) if got else None

    def transition_release(
        self,
        release_id: str,
        *,
        from_status: Sequence[ReleaseStatus],
        to_status: ReleaseStatus,
        due_by: str | None = None,
        **fields: Any,
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
        update = "SET " + ", ".join(sets) + ("" if to_status == ReleaseStatus.SCHEDULED else " REMOVE GSI1PK, GSI1SK")
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
        return release_of(load(got["Attributes"]))

    def schedule_release(self, release: Release) -> Release | None:
        """available -> scheduled, listed on the SCHEDULE index (GSI1) under its ``notify_at``."""
        return self.transition_release(
            release.release_id,
            from_status=[ReleaseStatus.AVAILABLE],
            to_status=ReleaseStatus.SCHEDULED,
            GSI1PK="SCHEDULE",
            GSI1SK=f"{release.notify_at}#{release.release_id}",
        )

    def set_release_fields(self, release_id: str, *, in_status: ReleaseStatus, **fields: Any) -> Release | None:
        """Set fields of a release while it is in ``in_status``; None when it is not (or does not exist)."""
        return self.transition_release(release_id, from_status=[in_status], to_status=in_status, **fields)

    def edit_release(self, release_id: str, *, in_status: ReleaseStatus, fields: dict[str, Any]) -> Release | None:
        """Change a release not yet published, in one conditional write; None when it is no longer
        ``in_status`` (a publish got there first: nothing is written).

        The status after the edit and the SCHEDULE index entry move together with ``notify_at`` and
        ``draft``: scheduled (on the index) when not a draft and a time is set, else available (off it);
        a release still awaiting its upload stays so (verification decides then).
        """
        target = in_status
        if in_status != ReleaseStatus.AWAITING_UPLOAD:
            target = ReleaseStatus.SCHEDULED if fields["notify_at"] and not fields["draft"] else ReleaseStatus.AVAILABLE
        names = {"#s": "status", **{f"#f{i}": n for i, n in enumerate(fields)}}
        values: dict[str, Any] = {":in": in_status, ":to": target}
        sets, removes = ["#s = :to"], []
        for i, value in enumerate(fields.values()):
            if value is None:
                removes.append(f"#f{i}")
            else:
                values[f":f{i}"] = value
                sets.append(f"#f{i} = :f{i}")
        if target == ReleaseStatus.SCHEDULED:
            values[":g1pk"], values[":g1sk"] = "SCHEDULE", f"{fields['notify_at']}#{release_id}"
            sets += ["GSI1PK = :g1pk", "GSI1SK = :g1sk"]
        else:
            removes += ["GSI1PK", "GSI1SK"]
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        return self._update_release(release_id, update, "attribute_exists(PK) AND #s = :in", names, values)
