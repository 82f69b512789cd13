"""Table adapter part: what the CSM's review and the support-period warnings read, and their once-only claims.

Every read is a Query or a batch on the account's own records, never a Scan:

- releases published in a period: GSI2 ``RELEASES`` (the release list) with the creation time bounded to
  the year before the period, filtered on ``published_at``: proportional to the releases made, not to the
  table (a release scheduled more than a year before its publication is not found);
- one account's part of a release: ``DELIVERY#release#<account>#``, ``DELIVERY#recall#<account>#`` and
  ``DOWNLOADER#<account>#`` under the release's partition (three Queries, each only that account's items);
- a review or warning sent once: ``PK=ACCOUNT#<id>, SK=ONCE#<what>`` (a lease while it is being sent, the
  addresses done so far, ``done_at`` once finished).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import TableBase, dump, is_error, key, load
from chalicelib.adapters.store.digested import settle
from chalicelib.adapters.store.items import release_of
from chalicelib.domain.core.models import Release, now_iso

_LOOKBACK = timedelta(days=366)


class ReviewsMixin(TableBase):
    def published_between(self, start: datetime, end: datetime, products: Sequence[str] | None = None) -> list[Release]:
        """Releases (of ``products``; None: of every product) published in ``[start, end)``, oldest first."""
        # Stored times are to the second: an end within a second (``now``) counts that whole second as before it.
        low, high = _iso(start - _LOOKBACK), _iso(end + timedelta(microseconds=999_999))
        items = self._query(
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :pk AND GSI2SK BETWEEN :c0 AND :c1",
            FilterExpression="published_at >= :p0 AND published_at < :p1",
            ExpressionAttributeValues=dump(
                {":pk": "RELEASES", ":c0": low, ":c1": f"{high}#~", ":p0": _iso(start), ":p1": high}
            ),
        )
        found = [release_of(i) for i in items if products is None or i.get("product") in products]
        return sorted(found, key=lambda r: (r.published_at or "", r.release_id))

    def account_part(self, release_id: str, account_id: str) -> dict[str, list[dict[str, Any]]]:
        """One account's delivery records of a release's notice and recall, and its downloader markers."""
        pk = f"RELEASE#{release_id}"
        prefixes = {
            "release": f"DELIVERY#release#{account_id}#",
            "recall": f"DELIVERY#recall#{account_id}#",
            "downloads": f"DOWNLOADER#{account_id}#",
        }
        part = {
            name: list(
                self._query(
                    KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
                    ExpressionAttributeValues=dump({":pk": pk, ":sk": prefix}),
                )
            )
            for name, prefix in prefixes.items()
        }
        part["release"] = settle(self, release_id, part["release"])  # a digested notice as its digest left it
        return part

    def transient_bounces(self, addresses: Sequence[str]) -> dict[str, int]:
        """How many transient bounces each of these addresses had lately (the feedback counter)."""
        keys = [(f"BOUNCES#{a.lower()}", "TRANSIENT") for a in dict.fromkeys(addresses)]
        return {
            str(i["PK"]).removeprefix("BOUNCES#"): int(i.get("count", 0))
            for i in self._batch_get(keys, consistent=False)
        }

    # -- once-only claims -----------------------------------------------------------------------------
    def claim_once(self, account_id: str, what: str, *, lease_seconds: int) -> tuple[str, set[str]]:
        """Take the sending of ``what`` (a review or warning) for an account: ``("claimed", addresses done
        already)``, or ``("done", …)`` / ``("busy", …)`` when it was sent, or another run is sending it."""
        now = int(time.time())
        try:
            got = self._db.update_item(
                TableName=self.name,
                Key=key(f"ACCOUNT#{account_id}", f"ONCE#{what}"),
                UpdateExpression="SET #type = :type, lease_until = :until, claimed_at = if_not_exists(claimed_at, :t)",
                ConditionExpression="attribute_not_exists(done_at) AND (attribute_not_exists(lease_until) OR "
                "lease_until < :now)",
                ExpressionAttributeNames={"#type": "type"},
                ExpressionAttributeValues=dump(
                    {":type": "once", ":until": now + lease_seconds, ":now": now, ":t": now_iso()}
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if not is_error(exc, "ConditionalCheckFailedException"):
                raise
            item = self._db.get_item(
                TableName=self.name, Key=key(f"ACCOUNT#{account_id}", f"ONCE#{what}"), ConsistentRead=True
            ).get("Item")
            return ("done" if item and "done_at" in item else "busy"), set()
        return "claimed", set(load(got["Attributes"]).get("sent", set()))

    def note_once_sent(self, account_id: str, what: str, address: str) -> None:
        """One address of a claimed send is done: a retry after a crash skips it."""
        self._db.update_item(
            TableName=self.name,
            Key=key(f"ACCOUNT#{account_id}", f"ONCE#{what}"),
            UpdateExpression="ADD sent :a",
            ExpressionAttributeValues=dump({":a": {address.lower()}}),
        )

    def finish_once(self, account_id: str, what: str, *, give_back: bool = False) -> None:
        """The send is complete (``done_at``); or, ``give_back``, it failed: the next run may claim it at once."""
        update = "SET lease_until = :zero" if give_back else "SET done_at = :t REMOVE lease_until"
        values = {":zero": 0} if give_back else {":t": now_iso()}
        self._db.update_item(
            TableName=self.name,
            Key=key(f"ACCOUNT#{account_id}", f"ONCE#{what}"),
            UpdateExpression=update,
            ExpressionAttributeValues=dump(values),
        )


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")
