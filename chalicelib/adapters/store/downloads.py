"""Table adapter part: the click (one read of release, contract and subscription), its audit, fresh-link limits."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import TableBase, dump, is_error, key
from chalicelib.adapters.store.items import account_of, release_of, subscription_of
from chalicelib.adapters.store.reports import tally_update, transact
from chalicelib.domain.core.models import Account, Release, Subscription, now_iso


class DownloadsMixin(TableBase):
    def claim_fresh_link(self, release_id: str, account_id: str, subscription_id: str, *, window: int) -> bool:
        """Take the one fresh-link email a subscriber may have per release per ``window`` seconds.

        False when one was sent within the window. The item expires through the table's TTL.
        """
        now = int(time.time())
        try:
            self._db.put_item(
                TableName=self.name,
                Item=dump(
                    {
                        "PK": f"RELEASE#{release_id}",
                        "SK": f"RELINK#{account_id}#{subscription_id}",
                        "type": "relink",
                        "sent_at": now,
                        "expires_at": now + window,
                    }
                ),
                ConditionExpression="attribute_not_exists(PK) OR sent_at <= :cutoff",
                ExpressionAttributeValues=dump({":cutoff": now - window}),
            )
        except ClientError as exc:
            if is_error(exc, "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def release_fresh_link(self, release_id: str, account_id: str, subscription_id: str) -> None:
        """Give the claim back when the email could not be sent, so the person may try again."""
        self._db.delete_item(
            TableName=self.name, Key=key(f"RELEASE#{release_id}", f"RELINK#{account_id}#{subscription_id}")
        )

    def download_audit(self, release_id: str, *, fields: str | None = None) -> Iterator[dict[str, Any]]:
        """Every recorded click on a release's download links, oldest first (``fields``: a projection)."""
        extra = {"ProjectionExpression": fields} if fields else {}
        yield from self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=dump({":pk": f"RELEASE#{release_id}", ":sk": "DOWNLOAD#"}),
            **extra,
        )

    def download_context(
        self, release_id: str, account_id: str, subscription_id: str
    ) -> tuple[Release | None, Account | None, Subscription | None, bool]:
        """Release, contract, subscription, and whether this subscriber downloaded it before, in one
        BatchGetItem (the click's only read)."""
        keys = [
            (f"RELEASE#{release_id}", "RELEASE"),
            (f"ACCOUNT#{account_id}", "CONTRACT"),
            (f"ACCOUNT#{account_id}", f"SUB#{subscription_id}"),
            (f"RELEASE#{release_id}", f"DOWNLOADER#{account_id}#{subscription_id}"),
        ]
        found = {item["type"]: item for item in self._batch_get(keys, consistent=True)}
        release = release_of(found["release"]) if "release" in found else None
        account = account_of(found["account"]) if "account" in found else None
        sub = subscription_of(found["subscription"]) if "subscription" in found else None
        return release, account, sub, "downloader" in found

    def record_download(
        self,
        release_id: str,
        *,
        account_id: str,
        subscription_id: str,
        ip: str,
        user_agent: str,
        email: str | None = None,
        tier: str | None = None,
        first: bool = True,
    ) -> None:
        """The click's audit record and the report's counters, in one transaction. A subscriber's ``first``
        click (as the click's read saw it) also writes its downloader marker and counts a downloader; two
        first clicks at once: the later one's marker exists, and it takes a second transaction without."""
        at = now_iso()
        audit = {
            "Put": {
                "TableName": self.name,
                "Item": dump(
                    {
                        "PK": f"RELEASE#{release_id}",
                        "SK": f"DOWNLOAD#{at}#{uuid.uuid4().hex[:8]}",
                        "type": "download",
                        "account_id": account_id,
                        "subscription_id": subscription_id,
                        "email": email,
                        "tier": tier,
                        "ip": ip,
                        "user_agent": user_agent[:512],
                        "at": at,
                    }
                ),
            }
        }
        who, counted = f"{account_id}#{subscription_id}", tier or "unknown"
        if first:
            marker = {
                "Put": {
                    "TableName": self.name,
                    # first click, address and clicks: the CSM's review reads them per account (same write)
                    "Item": dump(
                        {
                            "PK": f"RELEASE#{release_id}",
                            "SK": f"DOWNLOADER#{who}",
                            "type": "downloader",
                            "at": at,
                            "email": email,
                            "clicks": 1,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
            both = {f"{counted}#downloaded": 1, f"{counted}#downloaders": 1}
            if transact(self._db, [audit, marker, tally_update(self.name, release_id, "download", who, both)]) is None:
                return
        again = tally_update(self.name, release_id, "download", who, {f"{counted}#downloaded": 1})
        clicked = {
            "Update": {
                "TableName": self.name,
                "Key": key(f"RELEASE#{release_id}", f"DOWNLOADER#{who}"),
                "UpdateExpression": "SET #type = :type ADD clicks :one",
                "ExpressionAttributeNames": {"#type": "type"},
                "ExpressionAttributeValues": dump({":type": "downloader", ":one": 1}),
            }
        }
        if transact(self._db, [audit, again, clicked]) is not None:  # nothing in it has a condition
            raise RuntimeError("the download audit transaction was refused")
