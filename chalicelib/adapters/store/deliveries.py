"""Table adapter part: delivery records (one per notice and recipient) and the reads around them: delivery's
and recall's one-BatchGet re-checks, the notice a later email replies to, one account's outcomes, and the
suppression list of role-copy addresses."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from chalicelib.adapters.store._base import TableBase, dump, key, load
from chalicelib.adapters.store.announcements import announcement, subject_sk
from chalicelib.adapters.store.digested import settle
from chalicelib.adapters.store.items import (
    account_of,
    delivery_item,
    delivery_record_of,
    release_of,
    subscription_of,
)
from chalicelib.domain.core.models import Account, DeliveryOutcome, Recipient, Release, Subscription, now_iso
from chalicelib.domain.core.records import DeliveryRecord
from chalicelib.domain.core.states import Role


class DeliveriesMixin(TableBase):
    def delivery_context(
        self, release_id: str, notice: str, recipients: Sequence[Recipient]
    ) -> tuple[Release | None, dict[str, Subscription], set[str], set[str]]:
        """One consistent BatchGet: the release, each subscriber's subscription, this notice's deliveries
        already recorded, and which role-copy addresses (on-call, CSM) are suppressed.

        Subscribers' suppression shows in their subscription's status (feedback turns it off); only the
        role copies, which have no subscription, need the suppression list itself.
        """
        keys: list[tuple[str, str]] = [(f"RELEASE#{release_id}", subject_sk(notice))]
        for r in recipients:
            keys.append((f"RELEASE#{release_id}", f"DELIVERY#{notice}#{r.key}"))
            if r.role == Role.SUBSCRIBER:
                keys.append((f"ACCOUNT#{r.account_id}", f"SUB#{r.subscription_id}"))
            else:
                keys.append((f"SUPPRESSED#{r.email.lower()}", "SUPPRESSION"))
        release: Release | None = None
        subs: dict[str, Subscription] = {}
        sent: set[str] = set()
        suppressed: set[str] = set()
        for item in self._batch_get(list(dict.fromkeys(keys)), consistent=True):
            if item.get("type") == "subscription":
                sub = subscription_of(item)
                subs[f"{sub.account_id}#{sub.subscription_id}"] = sub
            elif item.get("type") == "delivery":
                sent.add(str(item["recipient"]))
            elif item.get("type") == "release":
                release = release_of(item)
            elif item.get("type") == "announcement":  # an announcement's notice: re-checked as a release's
                release = announcement(item).as_release()
            elif str(item["PK"]).startswith("SUPPRESSED#"):
                suppressed.add(str(item["PK"]).removeprefix("SUPPRESSED#"))
        return release, subs, sent, suppressed

    def recall_context(
        self, release: Release, recipients: Sequence[Recipient]
    ) -> tuple[dict[str, str], dict[str, Account], Release | None]:
        """What a recall batch needs beyond delivery's re-check, in one BatchGet: the SES MessageId of each
        recipient's release notice (the recall threads under it), and, when the yank names a successor,
        that release and the contracts of the subscribers' accounts (is each entitled to its download?)."""
        pk = f"RELEASE#{release.release_id}"
        keys = [(pk, f"DELIVERY#release#{r.key}") for r in recipients]
        if release.superseded_by:
            keys.append((f"RELEASE#{release.superseded_by}", "RELEASE"))
            keys += [
                (f"ACCOUNT#{a}", "CONTRACT") for a in {r.account_id for r in recipients if r.role == Role.SUBSCRIBER}
            ]
        parents: dict[str, str] = {}
        accounts: dict[str, Account] = {}
        successor: Release | None = None
        found = list(self._batch_get(list(dict.fromkeys(keys)), consistent=False))
        for item in settle(self, release.release_id, found):  # a digest's recipients reply to the digest
            if item.get("type") == "delivery" and item.get("message_id"):
                parents[str(item["recipient"])] = str(item["message_id"])
            elif item.get("type") == "account":
                account = account_of(item)
                accounts[account.account_id] = account
            elif item.get("type") == "release":
                successor = release_of(item)
        return parents, accounts, successor

    def notice_message_id(self, release_id: str, account_id: str, subscription_id: str) -> str | None:
        """The SES MessageId of a release's notice to a subscriber, if one was sent: what a later email about
        the release replies to."""
        got = self._db.get_item(
            TableName=self.name,
            Key=key(f"RELEASE#{release_id}", f"DELIVERY#release#{account_id}#{subscription_id}#subscriber"),
            ProjectionExpression="message_id",
        ).get("Item")
        return str(load(got)["message_id"]) if got and "message_id" in got else None

    def suppressed(self, addresses: Sequence[str]) -> set[str]:
        """Which of these addresses are on the suppression list (lower-cased)."""
        keys = [(f"SUPPRESSED#{a.lower()}", "SUPPRESSION") for a in dict.fromkeys(addresses)]
        return {str(i["PK"]).removeprefix("SUPPRESSED#") for i in self._batch_get(keys, consistent=True)}

    def account_deliveries(self, release_id: str, notice: str, account_id: str) -> Iterator[DeliveryRecord]:
        """The recorded outcomes of one account's recipients of a notice (their keys start with the account)."""
        items = self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=dump({":pk": f"RELEASE#{release_id}", ":sk": f"DELIVERY#{notice}#{account_id}#"}),
            ConsistentRead=True,
        )
        yield from map(delivery_record_of, items)

    def record_deliveries(self, release_id: str, notice: str, outcomes: Sequence[DeliveryOutcome]) -> None:
        if outcomes:
            at = now_iso()
            self._batch_write([delivery_item(release_id, notice, o, at) for o in outcomes])
