"""Table adapter part: announcements of upcoming releases (advance notices, seed E6), their unique
product+version key, the audience of the tiers that get them, and what their emails thread under.

An announcement lives in the partition ``RELEASE#<announcement id>`` (ids start with ``an-``, never a
release's), beside its fan-out page claims, delivery claims and delivery records: the delivery pipeline's
parts that key on that partition serve it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import TableBase, decode_cursor, dump, is_error, key, load
from chalicelib.adapters.store.items import account_of, audience_entry_of
from chalicelib.domain.core.errors import AlreadyExists, BadRequest
from chalicelib.domain.core.models import Account, Recipient
from chalicelib.domain.core.records import Announcement, AudienceEntry

SK = "ANNOUNCEMENT"
_LIST_PK = "ANNOUNCEMENTS"  # GSI2: every announcement, newest first (a few a month: one partition)
_PRODUCT_PK = "ANNOUNCED#"  # GSI1: a product's announcements by planned date (customers' list)
# The fields an announcement keeps as they are (the rest: id, sequence, keys).
_FIELDS = ("product", "kind", "version", "planned_for", "title", "summary", "known_issues", "status",
           "created_at", "created_by", "updated_at", "release_id", "severity", "queued")  # fmt: skip


def _item(a: Announcement) -> dict[str, Any]:
    item = {f: getattr(a, f) for f in _FIELDS}
    item.update(
        {
            "PK": f"RELEASE#{a.announcement_id}",
            "SK": SK,
            "type": "announcement",
            "announcement_id": a.announcement_id,
            "sequence": a.sequence,
            "GSI2PK": _LIST_PK,
            "GSI2SK": f"{a.created_at}#{a.announcement_id}",
            "GSI1PK": f"{_PRODUCT_PK}{a.product}",
            "GSI1SK": f"{a.planned_for}#{a.announcement_id}",
        }
    )
    return item


def announcement(i: dict[str, Any]) -> Announcement:
    return Announcement(
        announcement_id=str(i["announcement_id"]),
        sequence=int(i.get("sequence", 0)),
        **{f: i.get(f) for f in _FIELDS if f not in ("severity", "queued")},  # type: ignore[arg-type]
        severity=int(i["severity"]),
        queued=int(i.get("queued", -1)),
    )


def subject_sk(notice: str) -> str:
    """The sort key of what a notice is about, in its partition: an announcement's or a release's."""
    return SK if notice.startswith("announce") else "RELEASE"


def _unique(product: str, version: str) -> dict[str, Any]:
    return key(f"ANNOUNCEKEY#{product}#{version}", "ANNOUNCEKEY")


class AnnouncementsMixin(TableBase):
    def create_announcement(self, a: Announcement) -> None:
        """The announcement and its product+version key, in one transaction (one announcement per version)."""
        unique = {**_unique(a.product, a.version), "announcement_id": {"S": a.announcement_id}}
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.name,
                            "Item": unique,
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.name,
                            "Item": dump(_item(a)),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if is_error(exc, "TransactionCanceledException"):
                raise AlreadyExists(f"{a.product} {a.version} is announced already.") from exc
            raise

    def get_announcement(self, announcement_id: str, *, consistent: bool = False) -> Announcement | None:
        got = self._db.get_item(
            TableName=self.name, Key=key(f"RELEASE#{announcement_id}", SK), ConsistentRead=consistent
        ).get("Item")
        return announcement(load(got)) if got else None

    def announcement_of(self, product: str, version: str) -> Announcement | None:
        """The live announcement of a product's version (cancelling one frees its version)."""
        got = self._db.get_item(TableName=self.name, Key=_unique(product, version), ConsistentRead=True).get("Item")
        return self.get_announcement(str(load(got)["announcement_id"]), consistent=True) if got else None

    def change_announcement(self, a: Announcement, **fields: Any) -> Announcement | None:
        """Write ``fields`` (and one more SEQUENCE) if ``a`` is still as read (its sequence and status);
        None when it moved on meanwhile (nothing written). A cancellation frees the product+version key."""
        new = replace(a, sequence=a.sequence + 1, **fields)
        update = {
            "Put": {
                "TableName": self.name,
                "Item": dump(_item(new)),
                "ConditionExpression": "#q = :seq AND #s = :status",
                "ExpressionAttributeNames": {"#q": "sequence", "#s": "status"},
                "ExpressionAttributeValues": dump({":seq": a.sequence, ":status": a.status}),
            }
        }
        actions: list[Any] = [update]
        if new.status == "cancelled":
            actions.append({"Delete": {"TableName": self.name, "Key": _unique(a.product, a.version)}})
        try:
            self._db.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if is_error(exc, "TransactionCanceledException"):
                return None
            raise
        return new

    def set_announcement(self, announcement_id: str, **fields: Any) -> None:
        """Set bookkeeping fields (``queued``, ``release_id``, ``status`` released) without a new SEQUENCE."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":f{i}": v for i, v in enumerate(fields.values())}
        self._db.update_item(
            TableName=self.name,
            Key=key(f"RELEASE#{announcement_id}", SK),
            UpdateExpression="SET " + ", ".join(f"{n} = :{n[1:]}" for n in names),
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=dump(values),
        )

    def list_announcements(self, *, limit: int, cursor: str | None) -> tuple[list[Announcement], str | None]:
        """Every announcement, newest first (GSI2), a page at a time."""
        try:
            start = decode_cursor(cursor)
            ok = start is None or (isinstance(start, dict) and start.get("GSI2PK") == {"S": _LIST_PK})
        except (ValueError, TypeError, UnicodeDecodeError):
            ok = False
        if not ok:
            raise BadRequest("Query parameter 'cursor' is not a cursor this list gave out.", code="invalid_cursor")
        items, next_cursor = self._page(
            limit=limit,
            cursor=cursor,
            IndexName="GSI2",
            ScanIndexForward=False,
            KeyConditionExpression="GSI2PK = :pk",
            ExpressionAttributeValues=dump({":pk": _LIST_PK}),
        )
        return [announcement(i) for i in items], next_cursor

    def product_announcements(self, products: Sequence[str]) -> list[Announcement]:
        """The announcements of some products (one Query each on GSI1), by planned date."""
        found = [
            announcement(i)
            for p in sorted(set(products))
            for i in self._query(
                IndexName="GSI1",
                KeyConditionExpression="GSI1PK = :pk",
                ExpressionAttributeValues=dump({":pk": f"{_PRODUCT_PK}{p}"}),
            )
        ]
        return sorted(found, key=lambda a: (a.planned_for, a.announcement_id))

    def tier_audience_page(
        self, product: str, rank: int, *, limit: int, cursor: str | None
    ) -> tuple[list[AudienceEntry], str | None]:
        """One page of a product's audience of one tier (GSI1SK starts with the tier's rank): no other tier read."""
        items, after = self._page(
            limit=limit,
            cursor=cursor,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk AND begins_with(GSI1SK, :rank)",
            ExpressionAttributeValues=dump({":pk": f"AUDIENCE#{product}", ":rank": f"{rank}#"}),
        )
        return [audience_entry_of(i) for i in items], after

    def announcement_parents(self, announcement_id: str, recipients: Sequence[Recipient]) -> dict[str, str]:
        """The SES MessageId of each recipient's announcement (what later emails about it thread under)."""
        keys = [(f"RELEASE#{announcement_id}", f"DELIVERY#announce#{r.key}") for r in recipients]
        return {
            str(i["recipient"]): str(i["message_id"])
            for i in self._batch_get(list(dict.fromkeys(keys)), consistent=False)
            if i.get("message_id") and i.get("status") == "sent"
        }

    def announcement_context(
        self, announcement_id: str, recipients: Sequence[Recipient]
    ) -> tuple[Announcement | None, dict[str, Account], dict[str, str]]:
        """In one BatchGet: the announcement, the recipients' contracts (their CSM) and the announcement each
        got (its SES MessageId, for an update or a cancellation to thread under)."""
        pk = f"RELEASE#{announcement_id}"
        keys = [(pk, SK), *((f"ACCOUNT#{a}", "CONTRACT") for a in sorted({r.account_id for r in recipients}))]
        keys += [(pk, f"DELIVERY#announce#{r.key}") for r in recipients]
        found: Announcement | None = None
        accounts: dict[str, Account] = {}
        parents: dict[str, str] = {}
        for item in self._batch_get(list(dict.fromkeys(keys)), consistent=True):
            if item.get("type") == "announcement":
                found = announcement(item)
            elif item.get("type") == "account":
                accounts[str(item["account_id"])] = account_of(item)
            elif item.get("type") == "delivery" and item.get("message_id") and item.get("status") == "sent":
                parents[str(item["recipient"])] = str(item["message_id"])
        return found, accounts, parents
