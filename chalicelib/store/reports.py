"""Table adapter part: what a release's report and its recall read of the delivery records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.store._base import TableBase, dump

# Only what a report or a recall needs: keeps each Query page small (1 MB of items per page).
_DELIVERY_FIELDS = "account_id, subscription_id, email, tier, #r, #s"


class ReportsMixin(TableBase):
    def delivery_page(
        self, release_id: str, notice: str, *, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a notice's delivery records, and the cursor of the next page (None at the end)."""
        return self._page(
            limit=limit,
            cursor=cursor,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=dump({":pk": f"RELEASE#{release_id}", ":sk": f"DELIVERY#{notice}#"}),
            ProjectionExpression=_DELIVERY_FIELDS,
            ExpressionAttributeNames={"#r": "role", "#s": "status"},
        )

    def delivery_outcomes(self, release_id: str, notice: str) -> Iterator[dict[str, Any]]:
        """Every delivery record of one notice, projected (a report reads them page by page)."""
        yield from self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=dump({":pk": f"RELEASE#{release_id}", ":sk": f"DELIVERY#{notice}#"}),
            ProjectionExpression=_DELIVERY_FIELDS,
            ExpressionAttributeNames={"#r": "role", "#s": "status"},
        )
