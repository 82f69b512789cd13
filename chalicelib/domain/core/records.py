"""What the store answers about the work in progress, as typed records: an audience entry fan-out plans
from, a recorded delivery, the state of a delivery batch's claim, a claim stuck in flight, a batch given
up, a stored package version. (The domain's own records, releases, subscriptions and accounts, are in ``chalicelib.domain.core.models``.)

No AWS here: the domain reads these without loading the table adapter, and the in-memory store of the
fast tests builds the same records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.core.models import Recipient, Release
from chalicelib.domain.core.states import DeliveryStatus, Role


@dataclass(frozen=True)
class AudienceEntry:
    """One active subscription's entry in a product's audience index, with what planning reads of it."""

    account_id: str
    subscription_id: str
    email: str
    kinds: tuple[str, ...]
    channels: tuple[str, ...]
    max_severity: int
    tier: str = ""  # the account's tier when the entry was written (planning reads the contract's instead)
    installed: tuple[str, ...] | None = None  # the version lines run of this product (None: all)
    digest: Mapping[str, str] = field(
        default_factory=dict
    )  # severity -> daily | weekly (chalicelib/domain/digests/windows.py)

    def wants(self, *, kind: str, severity: int, channel: str) -> bool:
        """The subscriber's kind, severity and channel preferences (version lines and the contract apart)."""
        return kind in self.kinds and severity <= self.max_severity and channel in self.channels


@dataclass(frozen=True)
class DeliveryRecord:
    """The recorded outcome of one recipient's notice."""

    recipient: Recipient
    status: DeliveryStatus
    message_id: str | None = None  # SES's, when sent: what a later email about the release replies to
    detail: str | None = None  # why it failed or was skipped

    @property
    def role(self) -> Role:
        return self.recipient.role

    @property
    def email(self) -> str:
        return self.recipient.email


@dataclass(frozen=True)
class BatchState:
    """A delivery batch's claim as a CSM copy waiting for it reads it: finished yet, and how many of its
    recipients it handed on to a retry batch."""

    done: bool
    retried: int = 0


@dataclass(frozen=True)
class StuckBatch:
    """A claimed batch whose lease ran out before it finished, with the message that re-drives it."""

    release_id: str
    batch_id: str  # ``<notice>#<batch>``
    check: str  # its place in the in-flight index: a re-drive moves it only if nobody moved it meanwhile
    queue: str
    body: dict[str, Any]
    redrives: int = 0


@dataclass(frozen=True)
class FailedBatch:
    """A delivery batch given up after its attempts, and why (the report lists them for a human)."""

    notice: str
    batch_id: str
    error: str
    attempts: int

    def public(self) -> dict[str, Any]:
        return {"notice": self.notice, "batch_id": self.batch_id, "error": self.error, "attempts": self.attempts}


@dataclass(frozen=True)
class Announcement:
    announcement_id: str
    product: str
    kind: str
    version: str
    planned_for: str  # YYYY-MM-DD
    title: str
    summary: str
    status: str  # announced | released | cancelled
    created_at: str
    created_by: str
    severity: int  # what subscribers' thresholds compare it with (announcements.usual_severity)
    sequence: int = 0  # the iCalendar SEQUENCE: one more for each move and for the cancellation
    known_issues: str | None = None
    updated_at: str | None = None
    release_id: str | None = None  # the published release it announced
    queued: int = -1  # the highest sequence whose first fan-out page is on the queue

    def public(self) -> dict[str, Any]:
        return {
            "id": self.announcement_id,
            "product": self.product,
            "kind": self.kind,
            "version": self.version,
            "planned_for": self.planned_for,
            "title": self.title,
            "summary": self.summary,
            "known_issues": self.known_issues,
            "status": self.status,
            "sequence": self.sequence,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
            "release_id": self.release_id,
        }

    def as_release(self) -> Release:
        """The announcement as delivery re-checks a notice: product, kind, severity, GA channel, status."""
        # its own state stands for the release's: mail.SENDABLE names the states an announcement's notices go in
        return Release(
            self.announcement_id,
            self.product,
            self.version,
            self.kind,
            self.severity,
            "ga",
            self.title,
            self.summary,
            self.status,  # type: ignore[arg-type]
            self.created_at,
            self.created_by,
        )


MAX_ACTIONS = 100  # what the store writes in one transaction (DynamoDB's TransactWriteItems limit)


@dataclass(frozen=True)
class SentDigest:
    """One subscription's digest as recorded: who, its outcome (sent, failed, skipped), the releases it
    notified, SES's message id and when SES accepted it."""

    recipient: Recipient
    status: str
    releases: tuple[str, ...]
    message_id: str | None
    at: str
    skipped: tuple[str, ...] = ()  # releases left out because the subscription no longer wants them


@dataclass(frozen=True)
class Stored:
    """One version of an object as a single HeadObject saw it."""

    version_id: str | None  # None: the bucket is not versioned (S3 answers no id, or "null" while suspended)
    size: int
    sha256: str | None  # S3's own full-object SHA-256 (hex), when it verified one on arrival
