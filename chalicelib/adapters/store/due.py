"""Table adapter part: the due index of the scheduled mail (the CSM's reviews, the support warnings).

One item per account and kind, ``PK=ACCOUNT#<id>, SK=DUE#<kind>``, in GSI1 as ``GSI1PK=DUE#<kind>,
GSI1SK=<due, UTC>#<id>`` while something is due or will be: a schedule Queries the items due up to now (the
key condition bounds the sort key, so it reads only what is due, never every account), and leases each one it
plans by moving its sort key to the lease's end. Sending moves it to the next due time; an item planned
``MAX_PLANS`` times without being sent leaves the index (``parked_at``) instead of looping.
"""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import TableBase, dump, is_error, key, load
from chalicelib.domain.core.models import now_iso

MAX_PLANS = 3  # an item planned this often without being sent (a poison account) is parked, not planned again


def _sort(at: datetime, account_id: str) -> str:
    return f"{at.isoformat(timespec='seconds').replace('+00:00', 'Z')}#{account_id}"


class DueMixin(TableBase):
    def set_due(self, kind: str, account_id: str, at: datetime, *, keep: bool = False) -> None:
        """``kind`` is next due for the account at ``at`` (``keep``: unless something is due already)."""
        value = "if_not_exists(GSI1SK, :sk)" if keep else ":sk"
        self._db.update_item(
            TableName=self.name,
            Key=key(f"ACCOUNT#{account_id}", f"DUE#{kind}"),
            UpdateExpression=f"SET #type = :type, GSI1PK = :pk, GSI1SK = {value}, plans = :zero REMOVE parked_at",
            ExpressionAttributeNames={"#type": "type"},
            ExpressionAttributeValues=dump(
                {":type": "due", ":pk": f"DUE#{kind}", ":sk": _sort(at, account_id), ":zero": 0}
            ),
        )

    def clear_due(self, kind: str, account_id: str) -> None:
        """Nothing of ``kind`` will be due for the account (its tier has no review, its warnings are all sent)."""
        self._db.delete_item(TableName=self.name, Key=key(f"ACCOUNT#{account_id}", f"DUE#{kind}"))

    def due_page(self, kind: str, now: datetime, *, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` accounts whose ``kind`` is due at ``now`` or before, earliest first: (account, sort key)."""
        got = self._db.query(
            TableName=self.name,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk AND GSI1SK <= :now",
            ExpressionAttributeValues=dump({":pk": f"DUE#{kind}", ":now": _sort(now, "~")}),
            Limit=limit,
        )
        items = [load(i) for i in got.get("Items", [])]
        return [(str(i["PK"]).removeprefix("ACCOUNT#"), str(i["GSI1SK"])) for i in items]

    def lease_due(self, kind: str, account_id: str, seen: str, until: datetime) -> bool:
        """Take a due item for planning: its sort key moves to ``until`` if it is still ``seen`` (another
        planner did not take it). False when it was taken, or parked for having been planned too often."""
        try:
            got = self._db.update_item(
                TableName=self.name,
                Key=key(f"ACCOUNT#{account_id}", f"DUE#{kind}"),
                UpdateExpression="SET GSI1SK = :until ADD plans :one",
                ConditionExpression="GSI1SK = :seen",
                ExpressionAttributeValues=dump({":until": _sort(until, account_id), ":seen": seen, ":one": 1}),
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if is_error(exc, "ConditionalCheckFailedException"):
                return False
            raise
        if int(load(got["Attributes"]).get("plans", 0)) <= MAX_PLANS:
            return True
        self._db.update_item(
            TableName=self.name,
            Key=key(f"ACCOUNT#{account_id}", f"DUE#{kind}"),
            UpdateExpression="SET parked_at = :t REMOVE GSI1PK, GSI1SK",
            ExpressionAttributeValues=dump({":t": now_iso()}),
        )
        return False
