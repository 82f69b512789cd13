"""Table adapter part: digest items queued by fan-out, and what the digest runner reads and writes.

=====================================  ==============================================================
pattern                                key
=====================================  ==============================================================
a digest item (one notice waiting)     PK=DIGEST#<window end bucket>, SK=<account>#<sub>#I#<release>
a digest sent (or given up)            PK=DIGEST#<bucket>, SK=<account>#<sub>#SENT (sorts right after
                                       that subscription's items: one Query reads both)
the runner's next bucket               PK=DIGESTS, SK=CURSOR
=====================================  ==============================================================

Items are written in fan-out's BatchWriteItem (25 a request, at most a page's worth per invocation); a
digest's marker, its notices' delivery records and the release counters go in one transaction, so a
digest is recorded whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.adapters.store._base import TableBase, dump, encode_cursor, key, load
from chalicelib.adapters.store.items import delivery_item, release_of, subscription_of
from chalicelib.adapters.store.reports import tally_update, transact
from chalicelib.domain.models import DeliveryOutcome, Recipient, Release, Subscription
from chalicelib.domain.records import SentDigest
from chalicelib.domain.states import DeliveryStatus, Notice


def digest_pk(bucket: str) -> str:
    return f"DIGEST#{bucket}"


class DigestsMixin(TableBase):
    def queue_digest_items(self, items: Sequence[dict[str, Any]]) -> None:
        """Fan-out's digest items (``digests.split``); written again by a retried page, with the same keys."""
        rows = []
        for i in items:
            r: Recipient = i["recipient"]
            rows.append({
                "PK": digest_pk(i["bucket"]), "SK": f"{r.account_id}#{r.subscription_id}#I#{i['release_id']}",
                "type": "digest_item", "account_id": r.account_id, "subscription_id": r.subscription_id,
                "email": r.email, "tier": r.tier, "release_id": i["release_id"], "frequency": i["frequency"],
                "due": i["due"], "window": i["window"], "late": i["late"] or None,
            })  # fmt: skip
        self._batch_write(rows)

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
    ) -> tuple[dict[str, Subscription], dict[str, Release]]:
        """The subscriptions (consistent: an unsubscribe seconds ago holds) and releases of a page, one BatchGet."""
        keys = [(f"ACCOUNT#{a}", f"SUB#{s}") for a, s in subscriptions]
        keys += [(f"RELEASE#{r}", "RELEASE") for r in releases]
        subs: dict[str, Subscription] = {}
        found: dict[str, Release] = {}
        for item in self._batch_get(list(dict.fromkeys(keys)), consistent=True):
            if item.get("type") == "subscription":
                sub = subscription_of(item)
                subs[f"{sub.account_id}#{sub.subscription_id}"] = sub
            elif item.get("type") == "release":
                release = release_of(item)
                found[release.release_id] = release
        return subs, found

    def delivered_already(self, pairs: Sequence[tuple[str, Recipient]]) -> set[tuple[str, str]]:
        """Of (release, recipient), those with a release notice recorded: what a late item checks."""
        keys = [(f"RELEASE#{rel}", f"DELIVERY#release#{r.key}") for rel, r in pairs]
        return {
            (str(i["PK"]).removeprefix("RELEASE#"), str(i["recipient"]))
            for i in self._batch_get(list(dict.fromkeys(keys)), consistent=True)
        }

    def record_digests(self, bucket: str, sent: Sequence[SentDigest], tallies: dict[str, dict[str, int]]) -> None:
        """Digests' markers, their notices' delivery records and the counters they add, in one transaction
        (at most ``MAX_ACTIONS``: the runner sizes its chunks with ``actions_for``)."""
        actions: list[dict[str, Any]] = []
        for d in sent:
            marker = {"PK": digest_pk(bucket), "SK": f"{d.recipient.account_id}#{d.recipient.subscription_id}#SENT",
                      "type": "digest", "status": d.status, "message_id": d.message_id, "at": d.at,
                      "releases": list(d.releases) or None}  # fmt: skip
            actions.append({"Put": {"TableName": self.name, "Item": dump(marker)}})
            outcomes = [
                (r, DeliveryOutcome(d.recipient, DeliveryStatus(d.status), d.message_id, f"digest {bucket}"))
                for r in d.releases
            ]
            outcomes += [
                (r, DeliveryOutcome(d.recipient, DeliveryStatus.SKIPPED, None, "no longer subscribed"))
                for r in d.skipped
            ]
            for release_id, outcome in outcomes:
                record = {**delivery_item(release_id, Notice.RELEASE, outcome, d.at), "digest": bucket}
                actions.append({"Put": {"TableName": self.name, "Item": dump(record)}})
        shard = sent[0].recipient.key if sent else bucket
        actions += [
            tally_update(self.name, r, "release", shard, t) for r, t in sorted(tallies.items()) if any(t.values())
        ]
        if actions:
            transact(self._db, actions)

    def digest_cursor(self) -> str | None:
        got = self._db.get_item(TableName=self.name, Key=key("DIGESTS", "CURSOR"), ConsistentRead=True).get("Item")
        return str(load(got)["bucket"]) if got else None

    def set_digest_cursor(self, bucket: str) -> None:
        self._db.put_item(TableName=self.name, Item=dump({"PK": "DIGESTS", "SK": "CURSOR", "bucket": bucket}))


def _owner(item: dict[str, Any]) -> str:
    return "#".join(str(item["SK"]).split("#")[:2])
