"""The table adapter's one mapping between records and DynamoDB items (plain dicts, before ``dump`` /
after ``load``): every part of the adapter writes and reads an item through here, so an item's shape is
written once."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from chalicelib.domain.core.entitlements import TIERS
from chalicelib.domain.core.models import Account, DeliveryOutcome, Recipient, Release, Subscription, now_iso
from chalicelib.domain.core.records import AudienceEntry, BatchState, DeliveryRecord, FailedBatch, StuckBatch
from chalicelib.domain.core.states import DeliveryStatus, ReleaseStatus, Role, SubscriptionStatus

CONTRACTS = "CONTRACTS"  # GSI1 partition of every contract, sorted by account id: the support admins' list
SUPPORT_ENDS = "SUPPORTEND"  # GSI2 partition of every contract, sorted by support_end: the warnings' daily Query
RELEASES_LIST = "RELEASES"  # GSI2 partition of every release, newest first


def account_item(a: Account) -> dict[str, Any]:
    body = {
        "type": "account",
        "account_id": a.account_id,
        "name": a.name,
        "tier": a.tier,
        "products": list(a.products),
        "support_start": a.support_start.isoformat(),
        "support_end": a.support_end.isoformat(),
        "timezone": a.timezone,
        "business_hours": list(a.business_hours),
        "csm_email": a.csm_email,
        "oncall_email": a.oncall_email,
    }
    body["digest"] = json.dumps(body, sort_keys=True)
    return {
        "PK": f"ACCOUNT#{a.account_id}",
        "SK": "CONTRACT",
        "GSI1PK": CONTRACTS,
        "GSI1SK": a.account_id,
        **body,
        "GSI2PK": SUPPORT_ENDS,
        "GSI2SK": f"{a.support_end.isoformat()}#{a.account_id}",
        "updated_at": now_iso(),
    }


def account_of(i: dict[str, Any]) -> Account:
    hours = [int(h) for h in i.get("business_hours", [8, 17])]
    return Account(
        account_id=i["account_id"],
        name=i["name"],
        tier=i["tier"],
        products=tuple(i.get("products", [])),
        support_start=date.fromisoformat(i["support_start"]),
        support_end=date.fromisoformat(i["support_end"]),
        timezone=i.get("timezone", "UTC"),
        business_hours=(hours[0], hours[1]),
        csm_email=i.get("csm_email"),
        oncall_email=i.get("oncall_email"),
    )


RELEASE_FIELDS = (
    "product", "version", "kind", "channel", "title", "summary", "status", "created_at", "created_by",
    "filename", "sha256", "article_url", "notify_at", "object_key", "published_at", "fanout_at", "reason",
    "upload_id", "superseded_by", "superseded_version", "superseded_kind", "yanked_at", "recall_at", "object_version",
    "announcement_id",
)  # fmt: skip


def release_item(r: Release) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": f"RELEASE#{r.release_id}",
        "SK": "RELEASE",
        "type": "release",
        "release_id": r.release_id,
        "GSI2PK": RELEASES_LIST,
        "GSI2SK": f"{r.created_at}#{r.release_id}",
    }
    item.update({f: getattr(r, f) for f in RELEASE_FIELDS})
    item.update({"severity": r.severity, "size": r.size, "draft": r.draft, "part_size": r.part_size})
    item["applies_to"] = list(r.applies_to) if r.applies_to else None
    return item


def release_of(i: dict[str, Any]) -> Release:
    fields: dict[str, Any] = {f: i.get(f) for f in RELEASE_FIELDS}
    fields["status"] = ReleaseStatus(fields["status"])
    return Release(
        release_id=i["release_id"],
        severity=int(i["severity"]),
        size=int(i["size"]) if i.get("size") is not None else None,
        part_size=int(i["part_size"]) if i.get("part_size") is not None else None,
        draft=bool(i.get("draft", False)),
        applies_to=tuple(i["applies_to"]) if i.get("applies_to") else None,
        **fields,
    )


def audience_item(sub: Subscription, product: str, tier: str) -> dict[str, Any]:
    return {
        "PK": f"ACCOUNT#{sub.account_id}",
        "SK": f"SUB#{sub.subscription_id}#P#{product}",
        "GSI1PK": f"AUDIENCE#{product}",
        "GSI1SK": f"{TIERS[tier].rank}#{sub.account_id}#{sub.subscription_id}",
        "type": "audience",
        "account_id": sub.account_id,
        "subscription_id": sub.subscription_id,
        "email": sub.email,
        "tier": tier,
        "kinds": list(sub.kinds),
        "channels": list(sub.channels),
        "max_severity": sub.max_severity,
        # the version lines run of this product (absent: all), which fan-out filters on in memory
        "installed": list(sub.installed[product]) if sub.installed and product in sub.installed else None,
        "digest": dict(sub.digest) or None,
    }


def audience_items(sub: Subscription, tier: str, contract_products: Iterable[str] | None) -> list[dict[str, Any]]:
    """The audience entries of an active subscription: one per product it wants that the contract has."""
    allowed = set(sub.products if contract_products is None else contract_products)
    return [audience_item(sub, product, tier) for product in sub.products if product in allowed]


def subscription_item(s: Subscription) -> dict[str, Any]:
    return {
        "PK": f"ACCOUNT#{s.account_id}",
        "SK": f"SUB#{s.subscription_id}",
        "GSI2PK": f"EMAIL#{s.email.lower()}",
        "GSI2SK": f"{s.account_id}#{s.subscription_id}",
        "type": "subscription",
        "account_id": s.account_id,
        "subscription_id": s.subscription_id,
        "email": s.email,
        "products": list(s.products),
        "kinds": list(s.kinds),
        "max_severity": s.max_severity,
        "channels": list(s.channels),
        "status": s.status,
        "created_at": s.created_at,
        "confirmed_at": s.confirmed_at,
        "installed": {p: list(v) for p, v in s.installed.items()} if s.installed else None,
        "digest": dict(s.digest) or None,
    }


def subscription_of(i: dict[str, Any]) -> Subscription:
    return Subscription(
        account_id=i["account_id"],
        subscription_id=i["subscription_id"],
        email=i["email"],
        products=tuple(i["products"]),
        kinds=tuple(i["kinds"]),
        max_severity=int(i["max_severity"]),
        channels=tuple(i["channels"]),
        status=SubscriptionStatus(i["status"]),
        created_at=i["created_at"],
        confirmed_at=i.get("confirmed_at"),
        installed={p: tuple(v) for p, v in i["installed"].items()} if i.get("installed") else None,
        digest=dict(i.get("digest") or {}),
    )


def delivery_item(release_id: str, notice: str, o: DeliveryOutcome, at: str) -> dict[str, Any]:
    return {
        "PK": f"RELEASE#{release_id}",
        "SK": f"DELIVERY#{notice}#{o.recipient.key}",
        "type": "delivery",
        "notice": notice,
        "recipient": o.recipient.key,
        "account_id": o.recipient.account_id,
        "subscription_id": o.recipient.subscription_id,
        "email": o.recipient.email,
        "tier": o.recipient.tier,
        "role": o.recipient.role,
        "status": o.status,
        "message_id": o.message_id,
        "detail": o.detail,
        "at": at,
    }


def audience_entry_of(i: dict[str, Any]) -> AudienceEntry:
    return AudienceEntry(
        account_id=str(i["account_id"]),
        subscription_id=str(i["subscription_id"]),
        email=str(i["email"]),
        kinds=tuple(i["kinds"]),
        channels=tuple(i["channels"]),
        max_severity=int(i["max_severity"]),
        tier=str(i.get("tier", "")),
        installed=tuple(i["installed"]) if i.get("installed") is not None else None,
        digest=dict(i.get("digest") or {}),
    )


def delivery_record_of(i: dict[str, Any]) -> DeliveryRecord:
    recipient = Recipient(
        str(i["account_id"]),
        str(i["subscription_id"]),
        str(i["email"]),
        str(i.get("tier", "")),
        Role(i.get("role", Role.SUBSCRIBER)),
    )
    return DeliveryRecord(recipient, DeliveryStatus(i["status"]), i.get("message_id"), i.get("detail"))


def batch_state_of(i: dict[str, Any]) -> BatchState:
    return BatchState(done="done_at" in i, retried=int(i.get("counts", {}).get(DeliveryStatus.RETRY, 0)))


def stuck_batch_of(i: dict[str, Any]) -> StuckBatch:
    return StuckBatch(
        release_id=str(i["PK"]).removeprefix("RELEASE#"),
        batch_id=str(i["SK"]).removeprefix("BATCH#"),
        check=str(i["GSI1SK"]),
        queue=str(i.get("queue_name", "")),
        body=json.loads(i.get("body") or "{}"),
        redrives=int(i.get("redrives", 0)),
    )


def failed_batch_of(i: dict[str, Any]) -> FailedBatch:
    notice, _, batch = str(i["SK"]).removeprefix("BATCH#").partition("#")
    return FailedBatch(notice, batch, str(i.get("last_error", "")), int(i.get("attempts", 0)))
