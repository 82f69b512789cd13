"""Table adapter part: digest items queued by fan-out, and what the digest runner reads and writes.

=====================================  ==============================================================
pattern                                key
=====================================  ==============================================================
a digest item (one notice waiting)     PK=DIGEST#<window end bucket>, SK=<account>#<sub>#I#<release>
a digest sent (or given up)            PK=DIGEST#<bucket>, SK=<account>#<sub>#SENT (sorts right after
                                       that subscription's items: one Query reads both)
the runner's next bucket               PK=DIGESTS, SK=CURSOR
a queued notice's delivery record      PK=RELEASE#<release>, SK=DELIVERY#release#<recipient>, status digest
                                       (written with its item; settled by the marker: store/digested.py)
a window bucket with items (due index) PK=DIGESTS, SK=DUE#<bucket> (written with the items: store/digest_due.py)
=====================================  ==============================================================

Items are written in fan-out's BatchWriteItem (25 a request, at most a page's worth per invocation), each
with its recipient's delivery record (``status: digest``, in the release's partition); the runner writes one
marker per digest, the markers of up to a transaction's worth of digests and the release counters they add
in one transaction, so a digest is recorded whole or not at all. ``store/digested.py`` reads a queued
record as its digest's marker left it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.store._base import dump, encode_cursor, is_error, key
from chalicelib.adapters.store.digest_due import DigestDueMixin
from chalicelib.adapters.store.digested import digest_pk, marker_sk
from chalicelib.adapters.store.items import account_of, delivery_item, release_of, subscription_of
from chalicelib.adapters.store.reports import tally_update, transact
from chalicelib.domain.core.models import Account, DeliveryOutcome, Recipient, Release, Subscription, now_iso
from chalicelib.domain.core.records import MAX_ACTIONS, SentDigest
from chalicelib.domain.core.states import DeliveryStatus, Notice


class DigestsMixin(DigestDueMixin):
    def queue_digest_items(self, items: Sequence[dict[str, Any]]) -> None:
        """Fan-out's digest items (``digests.split``), each with its recipient's delivery record (``status:
        digest``) in the same BatchWriteItem; written again by a retried page, with the same keys. A late item
        (a retried page moving a notice to the next window) writes its record only where none or a queued one
        is: a notice an earlier attempt sent instantly is not queued again."""
        rows = []
        at = now_iso()
        for i in items:
            r: Recipient = i["recipient"]
            item = {
                "PK": digest_pk(i["bucket"]),
                "SK": f"{r.account_id}#{r.subscription_id}#I#{i['release_id']}",
                "type": "digest_item",
                "account_id": r.account_id,
                "subscription_id": r.subscription_id,
                "email": r.email,
                "tier": r.tier,
                "release_id": i["release_id"],
                "frequency": i["frequency"],
                "due": i["due"],
                "window": i["window"],
                "late": i["late"] or None,
                "natural": i.get("natural"),
            }
            outcome = DeliveryOutcome(r, DeliveryStatus.DIGEST, None, f"queued for the digest of {i['window']}")
            record = {
                **delivery_item(i["release_id"], Notice.RELEASE, outcome, at),
                "digest": i["bucket"],
                "late_from": i.get("natural") if i["late"] else None,
            }
            if i["late"] and not self._queue_late(record):
                continue
            rows += [item, record] if not i["late"] else [item]
        self._batch_write(rows + self.due_rows({str(i["bucket"]) for i in items}))

    def _queue_late(self, record: dict[str, Any]) -> bool:
        # An UpdateItem (fan-out's policy has no PutItem) writing the whole record, unless it is another status's.
        fields = {k: v for k, v in record.items() if k not in ("PK", "SK") and v is not None}
        names = {f"#f{n}": k for n, k in enumerate(fields)}
        values = {f":f{n}": v for n, v in enumerate(fields.values())}
        try:
            self._db.update_item(
                TableName=self.name,
                Key=key(record["PK"], record["SK"]),
                UpdateExpression="SET " + ", ".join(f"#f{n} = :f{n}" for n in range(len(fields))),
                ConditionExpression="attribute_not_exists(PK) OR #s = :digest",
                ExpressionAttributeNames={**names, "#s": "status"},
                ExpressionAttributeValues=dump({**values, ":digest": DeliveryStatus.DIGEST.value}),
            )
        except ClientError as exc:
            if is_error(exc, "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def digest_page(self, bucket: str, *, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """A page of a window bucket's items and markers, never splitting a subscription (its items and
        marker sort together), and the next page's cursor (None at the end). Consistent: a marker written
        by an earlier attempt is seen."""
        items: list[dict[str, Any]] = []
        while True:
            page, cursor = self._page(
                limit=limit,
                cursor=cursor,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues=dump({":pk": digest_pk(bucket)}),
                ConsistentRead=True,
            )
            items += page
            if cursor is None:
                return items, None
            last = _owner(items[-1])
            complete = [i for i in items if _owner(i) != last]
            if complete:  # the last subscription may go on in the next page: it starts the next page instead
                return complete, encode_cursor(key(complete[-1]["PK"], complete[-1]["SK"]))

    def digest_context(
        self, subscriptions: Sequence[tuple[str, str]], releases: Sequence[str]
    ) -> tuple[dict[str, Subscription], dict[str, Release], dict[str, Account]]:
        """The subscriptions, releases and contracts of a page, consistent (an unsubscribe or a contract change
        seconds ago holds), in one BatchGet."""
        keys = [(f"ACCOUNT#{a}", f"SUB#{s}") for a, s in subscriptions]
        keys += [(f"ACCOUNT#{a}", "CONTRACT") for a in dict.fromkeys(a for a, _ in subscriptions)]
        keys += [(f"RELEASE#{r}", "RELEASE") for r in releases]
        subs: dict[str, Subscription] = {}
        found: dict[str, Release] = {}
        accounts: dict[str, Account] = {}
        for item in self._batch_get(list(dict.fromkeys(keys)), consistent=True):
            if item.get("type") == "subscription":
                sub = subscription_of(item)
                subs[f"{sub.account_id}#{sub.subscription_id}"] = sub
            elif item.get("type") == "release":
                release = release_of(item)
                found[release.release_id] = release
            elif item.get("type") == "account":
                accounts[str(item["account_id"])] = account_of(item)
        return subs, found, accounts

    def queued_before(self, items: Sequence[dict[str, Any]]) -> set[str]:
        """Of late digest items, the releases (``<account>#<sub>#<release>``) also queued in their natural window,
        whose digest (sent earlier) carried or left them out already."""
        keys = [
            (digest_pk(str(i["natural"])), f"{i['account_id']}#{i['subscription_id']}#I#{i['release_id']}")
            for i in items
            if i.get("natural")
        ]
        return {
            f"{i['account_id']}#{i['subscription_id']}#{i['release_id']}"
            for i in self._batch_get(list(dict.fromkeys(keys)), consistent=True)
        }

    def record_digests(self, bucket: str, sent: Sequence[SentDigest], tallies: dict[str, dict[str, int]]) -> None:
        """Digests' markers and the counters they add, the markers in the last transaction (a marker a digest, an
        update a release touched, at most ``MAX_ACTIONS`` each). Their notices' delivery records were written
        at queue time; the marker settles them (``store/digested.py``). Counters beyond one transaction (a
        digest of 100 releases or more) go first, each part with a guard item a retry finds (so it adds them
        once); a kill before the markers' write leaves the digest unrecorded, as a kill after SES accepted it."""
        shard = sent[0].recipient.key if sent else bucket
        updates = [
            tally_update(self.name, r, "release", shard, t) for r, t in sorted(tallies.items()) if any(t.values())
        ]
        markers = [{"Put": {"TableName": self.name, "Item": dump(_marker(bucket, d))}} for d in sent]
        room = MAX_ACTIONS - len(markers)
        early, last = updates[: max(0, len(updates) - room)], updates[max(0, len(updates) - room) :]
        for part, start in enumerate(range(0, len(early), MAX_ACTIONS - 1)):
            owner = marker_sk(sent[0].recipient.account_id, sent[0].recipient.subscription_id).removesuffix("SENT")
            guard = {"PK": digest_pk(bucket), "SK": f"{owner}TALLY#{part}", "type": "digest_tally"}
            put = {"TableName": self.name, "Item": dump(guard), "ConditionExpression": "attribute_not_exists(PK)"}
            transact(self._db, [{"Put": put}, *early[start : start + MAX_ACTIONS - 1]])  # refused: added before
        if markers or last:
            transact(self._db, markers + last)


def _marker(bucket: str, d: SentDigest) -> dict[str, Any]:
    return {
        "PK": digest_pk(bucket),
        "SK": marker_sk(d.recipient.account_id, d.recipient.subscription_id),
        "type": "digest",
        "status": d.status,
        "message_id": d.message_id,
        "at": d.at,
        "releases": list(d.releases) or None,
        "skipped": list(d.skipped) or None,
    }


def _owner(item: dict[str, Any]) -> str:
    return "#".join(str(item["SK"]).split("#")[:2])
