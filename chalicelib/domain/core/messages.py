"""The messages between the Lambdas: one frozen, typed record per message, and the JSON both sides use.

Senders build a record and hand it to an intent method of the queues adapter (``chalicelib.adapters.queues``); each
handler reads its message with ``from_json``, which refuses a malformed body with ``MalformedMessage``.
The handler lets that error raise: SQS receives the message again up to the queue's ``maxReceiveCount``,
then keeps it in the queue's DLQ (and its alarm). Nothing re-enqueues a malformed message, so it cannot loop.

SES feedback (bounces, complaints) is not here: its shape is SES's, read in ``chalicelib.domain.subscriptions.feedback``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote_plus

from chalicelib.domain.core.models import Recipient
from chalicelib.domain.core.states import Notice, Role

_ROLES = tuple(Role)


class MalformedMessage(ValueError):
    """A queue message that is not the record it should be: a poison message, left to reach the DLQ."""


def _object(data: str | Mapping[str, Any], what: str) -> Mapping[str, Any]:
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise MalformedMessage(f"{what}: body is not JSON ({exc})") from exc
    if not isinstance(data, Mapping):
        raise MalformedMessage(f"{what}: body must be a JSON object, got {type(data).__name__}")
    return data


def _str(obj: Mapping[str, Any], key: str, what: str, *, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"{what}: field {key!r} must be a non-empty string")
    return value


def _int(obj: Mapping[str, Any], key: str, what: str) -> int:
    value = obj.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedMessage(f"{what}: field {key!r} must be an integer >= 0")
    return value


def _list(obj: Mapping[str, Any], key: str, what: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise MalformedMessage(f"{what}: field {key!r} must be a list")
    return value


def _kind(obj: Mapping[str, Any], key: str, what: str) -> str:
    """A notice: one of ``Notice``, an announcement's update with its revision (``announce-update.2``)."""
    value = obj.get(key, Notice.RELEASE)
    if not isinstance(value, str):
        raise MalformedMessage(f"{what}: field {key!r} must be a notice kind, got {value!r}")
    kind, dot, revision = value.partition(".")
    try:
        known = Notice(kind)
    except ValueError:
        raise MalformedMessage(f"{what}: field {key!r} must be a notice kind, got {value!r}") from None
    if dot and not (known == Notice.ANNOUNCE_UPDATE and revision.isdigit()):
        raise MalformedMessage(f"{what}: field {key!r} must be a notice kind, got {value!r}")
    return value


def retry_batch_id(batch_id: str) -> str:
    """The id of the batch that takes over a batch's unsent recipients: the one name for retry batches."""
    return f"{batch_id}.r{batch_id.count('.r') + 1}"


def recipient_to_json(r: Recipient) -> dict[str, str]:
    return {
        "account_id": r.account_id,
        "subscription_id": r.subscription_id,
        "email": r.email,
        "tier": r.tier,
        "role": r.role,
    }


def recipient_from_json(data: Any) -> Recipient:
    what = "recipient"
    if not isinstance(data, Mapping):
        raise MalformedMessage(f"{what}: must be an object, got {type(data).__name__}")
    row = data
    role = row.get("role", "subscriber")
    if role not in _ROLES:
        raise MalformedMessage(f"{what}: field 'role' must be one of {', '.join(_ROLES)}, got {role!r}")
    tier = row.get("tier", "")
    if not isinstance(tier, str):
        raise MalformedMessage(f"{what}: field 'tier' must be a string")
    return Recipient(
        _str(row, "account_id", what), _str(row, "subscription_id", what), _str(row, "email", what), tier, Role(role)
    )


@dataclass(frozen=True)
class FanoutPage:
    """One page of a notice's planning on the fan-out queue: a release notice's page of its product's audience,
    or a recall's page of the deliveries the notice made. ``carry`` is the planner's own note to the next page
    (the account that goes on there); only the planner reads it."""

    release_id: str
    kind: str = Notice.RELEASE
    page: int = 0
    cursor: str | None = None
    carry: Mapping[str, Any] = field(default_factory=dict)
    rank: int | None = None  # an announcement's: the tier (by rank) whose audience this page reads

    def following(self, cursor: str, carry: Mapping[str, Any]) -> FanoutPage:
        return replace(self, page=self.page + 1, cursor=cursor, carry=carry)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": self.kind,
            "release_id": self.release_id,
            "page": self.page,
            "cursor": self.cursor,
        }
        if self.carry:
            body["carry"] = dict(self.carry)
        return body if self.rank is None else {**body, "rank": self.rank}

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any]) -> FanoutPage:
        what = "fan-out page"
        obj = _object(data, what)
        carry = obj.get("carry") or {}
        if not isinstance(carry, Mapping):
            raise MalformedMessage(f"{what}: field 'carry' must be an object")
        return cls(
            _str(obj, "release_id", what),
            _kind(obj, "kind", what),
            _int(obj, "page", what),
            _str(obj, "cursor", what, optional=True),
            dict(carry),
            _int(obj, "rank", what) if obj.get("rank") is not None else None,
        )


@dataclass(frozen=True)
class DeliveryBatch:
    """One batch of at most 49 recipients of a notice (``release`` or ``recall``) on a delivery queue.
    ``after``: the batches a CSM copy waits for (``waits`` times so far); ``attempt``: how many retry batches
    came before this one."""

    release_id: str
    batch_id: str
    recipients: tuple[Recipient, ...]
    notice: str = Notice.RELEASE
    attempt: int = 0
    after: tuple[str, ...] = ()
    waits: int = 0

    def retry(self, recipients: Iterable[Recipient]) -> DeliveryBatch:
        """The batch that takes over these unsent recipients of this one (``retry_batch_id``)."""
        return DeliveryBatch(
            self.release_id, retry_batch_id(self.batch_id), tuple(recipients), self.notice, self.attempt + 1
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "release_id": self.release_id,
            "notice": self.notice,
            "batch_id": self.batch_id,
            "recipients": [recipient_to_json(r) for r in self.recipients],
        }
        extra = {"attempt": self.attempt, "after": list(self.after), "waits": self.waits}
        return body | {k: v for k, v in extra.items() if v}

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any]) -> DeliveryBatch:
        what = "delivery batch"
        obj = _object(data, what)
        after = _list(obj, "after", what)
        if not all(isinstance(b, str) for b in after):
            raise MalformedMessage(f"{what}: field 'after' must list batch ids")
        recipients = tuple(recipient_from_json(r) for r in _list(obj, "recipients", what))
        return cls(
            _str(obj, "release_id", what),
            _str(obj, "batch_id", what),
            recipients,
            _kind(obj, "notice", what),
            _int(obj, "attempt", what),
            tuple(after),
            _int(obj, "waits", what),
        )


@dataclass(frozen=True)
class AccountChange:
    """Re-rank an account's audience entries after its contract changed: a page of its subscriptions per message."""

    account_id: str
    cursor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"account_id": self.account_id, **({"cursor": self.cursor} if self.cursor else {})}

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any]) -> AccountChange:
        what = "account change"
        obj = _object(data, what)
        return cls(_str(obj, "account_id", what), _str(obj, "cursor", what, optional=True))


UPLOAD_READY = "upload-ready"


@dataclass(frozen=True)
class UploadReady:
    """Verify the uploaded object at ``key`` again: its SHA-256 was declared after S3's ObjectCreated came."""

    key: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": UPLOAD_READY, "key": self.key}

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any]) -> UploadReady:
        obj = _object(data, "upload ready")
        if obj.get("kind") != UPLOAD_READY:
            raise MalformedMessage(f"upload ready: field 'kind' must be {UPLOAD_READY!r}")
        return cls(_str(obj, "key", "upload ready"))


def uploaded_keys(data: str | Mapping[str, Any]) -> list[str]:
    """The object keys a message on the uploads queue asks to verify: ours (``UploadReady``), or S3's
    ObjectCreated notification (its keys URL-encoded; its ``s3:TestEvent`` names none)."""
    obj = _object(data, "upload notification")
    if obj.get("kind") == UPLOAD_READY:
        return [UploadReady.from_json(obj).key]
    if obj.get("Event") == "s3:TestEvent":
        return []
    try:
        return [unquote_plus(r["s3"]["object"]["key"]) for r in obj["Records"]]
    except (KeyError, TypeError) as exc:
        raise MalformedMessage(f"upload notification: not an S3 event record ({exc!r})") from exc
