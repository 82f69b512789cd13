"""Table adapter part: the claims that make fan-out plan each page once: the right to queue a notice's first
page (a lease on the release item, then ``<notice>_at``), and each page's claim (``PAGE#<notice>#<page>``,
a release's or an announcement's)."""

from __future__ import annotations

import time
from typing import Literal

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import TableBase, dump, is_error, key
from chalicelib.domain.core.models import now_iso
from chalicelib.domain.core.states import ClaimStatus


class FanoutClaimsMixin(TableBase):
    # -- queueing a notice once -------------------------------------------------------------------
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

    # -- fan-out pages ----------------------------------------------------------------------------
    def claim_page(self, release_id: str, notice: str, page: int, *, lease_seconds: int) -> ClaimStatus:
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
            return ClaimStatus.DONE if after in got or "done_at" in got.get(this, {}) else ClaimStatus.BUSY
        if old and self._db.get_item(TableName=self.name, Key=key(pk, after), ConsistentRead=True).get("Item"):
            self.finish_page(release_id, notice, page)
            return ClaimStatus.DONE
        return ClaimStatus.CLAIMED

    def finish_page(self, release_id: str, notice: str, page: int) -> None:
        """The last page of a notice has no successor to show it is done: it says so itself."""
        self._db.update_item(
            TableName=self.name,
            Key=key(f"RELEASE#{release_id}", f"PAGE#{notice}#{page}"),
            UpdateExpression="SET done_at = :t",
            ExpressionAttributeValues=dump({":t": now_iso()}),
        )
