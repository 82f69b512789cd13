"""Domain records shared by the API, the event handlers and the table adapter (no AWS here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from chalicelib.domain.core.entitlements import Contract
from chalicelib.domain.core.states import ClaimStatus, DeliveryStatus, ReleaseStatus, Role, SubscriptionStatus
from chalicelib.domain.core.versions import meets

# One transaction holds a subscription, its old fan-out entries and its new ones: 1 + 40 + 40 <= 100 actions.
MAX_PRODUCTS = 40


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    features: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        return {"product_id": self.product_id, "name": self.name, "features": list(self.features)}


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    tier: str
    products: tuple[str, ...]
    support_start: date
    support_end: date
    timezone: str = "UTC"
    business_hours: tuple[int, int] = (8, 17)
    csm_email: str | None = None
    oncall_email: str | None = None

    def contract(self) -> Contract:
        return Contract(
            account_id=self.account_id,
            tier=self.tier,
            products=frozenset(self.products),
            support_start=self.support_start,
            support_end=self.support_end,
        )

    def public(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "name": self.name,
            "tier": self.tier,
            "products": list(self.products),
            "support_start": self.support_start.isoformat(),
            "support_end": self.support_end.isoformat(),
            "timezone": self.timezone,
            "business_hours": {"start": self.business_hours[0], "end": self.business_hours[1]},
            "csm_email": self.csm_email,
            "oncall_email": self.oncall_email,
        }


@dataclass(frozen=True)
class Subscription:
    account_id: str
    subscription_id: str
    email: str
    products: tuple[str, ...]
    kinds: tuple[str, ...]
    max_severity: int
    channels: tuple[str, ...]
    status: SubscriptionStatus
    created_at: str
    confirmed_at: str | None = None
    installed: dict[str, tuple[str, ...]] | None = None  # per product, the version lines run (None: all)
    digest: dict[str, str] = field(
        default_factory=dict
    )  # severity -> daily | weekly (chalicelib/domain/digests/windows.py)

    def wants(
        self, *, product: str, kind: str, severity: int, channel: str, applies_to: tuple[str, ...] | None = None
    ) -> bool:
        return (
            self.status == SubscriptionStatus.ACTIVE
            and product in self.products
            and kind in self.kinds
            and severity <= self.max_severity
            and channel in self.channels
            and meets(applies_to, (self.installed or {}).get(product))
        )

    def public(self) -> dict[str, Any]:
        return {
            "id": self.subscription_id,
            "account_id": self.account_id,
            "email": self.email,
            "products": list(self.products),
            "kinds": list(self.kinds),
            "max_severity": self.max_severity,
            "channels": list(self.channels),
            "status": self.status,
            "created_at": self.created_at,
            "confirmed_at": self.confirmed_at,
            "installed": {p: list(v) for p, v in self.installed.items()} if self.installed else None,
            "digest": dict(self.digest),
        }


@dataclass(frozen=True)
class Release:
    release_id: str
    product: str
    version: str
    kind: str
    severity: int
    channel: str
    title: str
    summary: str
    status: ReleaseStatus
    created_at: str
    created_by: str
    filename: str | None = None
    size: int | None = None
    sha256: str | None = None
    article_url: str | None = None
    notify_at: str | None = None
    draft: bool = False
    object_key: str | None = None
    object_version: str | None = None  # the S3 version of object_key that verification hashed (what is served)
    published_at: str | None = None
    fanout_at: str | None = None
    reason: str | None = None
    upload_id: str | None = None  # an S3 multipart upload in progress
    part_size: int | None = None
    superseded_by: str | None = None  # a yanked release's replacement (release id)
    superseded_version: str | None = None
    superseded_kind: str | None = None  # the successor's own kind (a patch may be superseded by a service pack)
    yanked_at: str | None = None
    recall_at: str | None = None  # when the recall of a yanked release was queued
    applies_to: tuple[str, ...] | None = None  # the version lines it is for (None: all)
    announcement_id: str | None = None  # the advance notice it fulfils: its notice threads under that one

    def successor_name(self) -> str | None:
        """A yanked release's successor as the notices and pages name it: its own product, kind and version."""
        if not self.superseded_by or not self.superseded_version:
            return None
        return f"{self.product} {self.superseded_kind or self.kind} {self.superseded_version} (release {self.superseded_by})"

    def public(self) -> dict[str, Any]:
        body = asdict(self)
        body["id"] = body.pop("release_id")
        body.pop("object_key")
        body.pop("object_version")
        body.pop("upload_id")
        return body


@dataclass(frozen=True)
class Recipient:
    """One address a notice goes to, as fan-out plans it and delivery sends it."""

    account_id: str
    subscription_id: str
    email: str
    tier: str
    role: Role = Role.SUBSCRIBER

    @property
    def key(self) -> str:
        return f"{self.account_id}#{self.subscription_id}#{self.role}"


@dataclass
class DeliveryOutcome:
    recipient: Recipient
    status: DeliveryStatus
    message_id: str | None = None
    detail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchClaim:
    """What claiming a delivery batch found: the attempts so far (this one included when ``CLAIMED``), the
    error the last failed attempt left, and the lease this invocation holds."""

    status: ClaimStatus
    attempts: int = 0
    last_error: str = ""
    lease_until: int = 0


def now_iso() -> str:
    """Now, as RFC 3339 UTC with a Z, the form every stored and returned timestamp takes."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
