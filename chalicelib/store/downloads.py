"""Table adapter part: what the download links need beyond the click itself (fresh-link rate limit, audit reads)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.store._base import TableBase, dump, is_error, key


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

    def download_audit(self, release_id: str) -> Iterator[dict[str, Any]]:
        """Every recorded click on a release's download links, oldest first."""
        yield from self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=dump({":pk": f"RELEASE#{release_id}", ":sk": "DOWNLOAD#"}),
        )
