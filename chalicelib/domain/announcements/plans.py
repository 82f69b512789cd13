"""Announcements of upcoming releases (seed E6, advance update notice): a release engineer announces a
service pack, feature pack, update or patch with its planned date; each account whose tier has
``advance_update_notice`` (Elite) and whose contract holds the product hears at once: its subscribed
contacts whose preferences match and its CSM, with a calendar invitation (``chalicelib/domain/announcements/invites.py``).
Moving or cancelling it sends an update or a cancellation to whoever got it; the release's own notice,
once published, threads under it.

Through the release pipeline: fan-out pages (``plan_page``) and delivery batches, claims and records in the
announcement's partition (``chalicelib/adapters/store/announcements.py``), notice kinds ``mail.ANNOUNCE``, ``UPDATE``
(one per revision) and ``CANCEL``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.auth import RELEASE_ENGINEERS, Identity
from chalicelib.domain.announcements.ports import AnnouncedStore, ThreadingStore
from chalicelib.domain.core import timestamps
from chalicelib.domain.core import validation as v
from chalicelib.domain.core.entitlements import KINDS, TIERS, period_active, policy
from chalicelib.domain.core.errors import AlreadyExists, BadRequest, Conflict, Forbidden, NotFound
from chalicelib.domain.core.messages import FanoutPage
from chalicelib.domain.core.models import Recipient, Release, now_iso
from chalicelib.domain.core.queries import number
from chalicelib.domain.core.records import Announcement
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.mail import notices as mail
from chalicelib.domain.releases.body import parse_product, parse_version
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.announcements.ports import PlanStore
    from chalicelib.domain.core.ports import Queues

CREATE_FIELDS = ("product", "kind", "version", "planned_for", "title", "summary", "known_issues")
MOVE_FIELDS = ("planned_for", "title", "summary", "known_issues")
# Critical-solution articles answer an incident: nothing to plan, so nothing to announce.
ANNOUNCEABLE = tuple(k for k in KINDS if k != "critical-solution")
# An announcement has no severity of its own: it is judged as its kind usually is (a contact whose
# threshold is 2, high and critical only, hears of no service pack in advance either).
USUAL_SEVERITY = {"patch": 3, "service-pack": 3, "update": 3, "feature-pack": 4}
LIST_LIMIT = 50
_OPEN = "announced"


def tiers_with_notice() -> list[int]:
    """The ranks of the tiers whose matrix has the advance update notice (E6): whose audience hears."""
    return sorted(t.rank for t in TIERS.values() if t.advance_update_notice)


def _fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The announcement's fields in ``body``, validated (on create, all but ``known_issues`` are required)."""
    got: dict[str, Any] = {}
    if creating or "planned_for" in body:
        planned = timestamps.iso_date(body, "planned_for")
        if planned < datetime.now(UTC).date():
            raise BadRequest("Field 'planned_for' is in the past.", code="invalid_field")
        got["planned_for"] = planned.isoformat()
    if creating or "title" in body:
        got["title"] = v.text(body, "title", max_len=200)
    if creating or "summary" in body:
        got["summary"] = v.text(body, "summary", max_len=4000, multiline=True)
    if "known_issues" in body:
        got["known_issues"] = v.text(body, "known_issues", max_len=4000, multiline=True, required=False)
    return got


def parse_new(body: dict[str, Any], *, known_products: set[str]) -> dict[str, Any]:
    v.reject_unknown(body, CREATE_FIELDS)
    product = parse_product(body, known_products)
    kind = v.choice(body, "kind", KINDS)
    if kind not in ANNOUNCEABLE:
        raise BadRequest(
            f"Field 'kind' is {kind}: an incident's article has nothing to plan; announce "
            f"one of {', '.join(ANNOUNCEABLE)}.",
            code="invalid_field",
        )
    return {"product": product, "kind": kind, "version": parse_version(body), **_fields(body, creating=True)}


def create(table: PlanStore, queues: Queues, who: Identity, body: dict[str, Any]) -> Announcement:
    who.require_group(RELEASE_ENGINEERS)
    fields = parse_new(body, known_products={p.product_id for p in table.list_products()})
    new = Announcement(
        announcement_id=f"an-{uuid.uuid4().hex[:16]}",
        status=_OPEN,
        created_at=now_iso(),
        created_by=who.subject,
        severity=USUAL_SEVERITY[fields["kind"]],
        **fields,
    )
    try:
        table.create_announcement(new)
    except AlreadyExists:
        same = table.announcement_of(new.product, new.version)
        if same is None or same.sequence or any(getattr(same, k) != getattr(new, k) for k in fields):
            raise
        new = same  # the same request again (a retry): finish what it started
    logger.info("announcement created", extra={"release_id": new.announcement_id, "product": new.product})
    return queue_pending(table, queues, new)


def _open(table: PlanStore, who: Identity, announcement_id: str) -> Announcement:
    who.require_group(RELEASE_ENGINEERS)
    found = table.get_announcement(announcement_id, consistent=True)
    if found is None:
        raise NotFound(f"Announcement {announcement_id} does not exist.")
    return found


def move(table: PlanStore, queues: Queues, who: Identity, announcement_id: str, body: dict[str, Any]) -> Announcement:
    """A new planned date or text: everyone who got the announcement gets the update (SEQUENCE + 1)."""
    who.require_group(RELEASE_ENGINEERS)
    v.reject_unknown(body, MOVE_FIELDS)
    fields = _fields(body, creating=False)
    if not fields:
        raise BadRequest(f"Give at least one of {', '.join(MOVE_FIELDS)}.", code="missing_field")
    found = _open(table, who, announcement_id)
    if found.status != _OPEN:
        raise Conflict(f"Announcement {announcement_id} is {found.status}: it can no longer move.", code="not_open")
    moved = table.change_announcement(found, updated_at=now_iso(), **fields)
    if moved is None:
        raise Conflict(f"Announcement {announcement_id} changed meanwhile: read it and try again.", code="conflict")
    return queue_pending(table, queues, moved)


def cancel(table: PlanStore, queues: Queues, who: Identity, announcement_id: str) -> Announcement:
    """Cancel: everyone who got it gets the cancellation (METHOD:CANCEL). Idempotent."""
    found = _open(table, who, announcement_id)
    if found.status == "released":
        raise Conflict(f"Announcement {announcement_id} is released: its release went out.", code="not_open")
    if found.status == _OPEN:
        found = table.change_announcement(found, status="cancelled", updated_at=now_iso()) or _open(
            table, who, announcement_id
        )
    return queue_pending(table, queues, found)


def notice_of(a: Announcement) -> str:
    """The notice the announcement's current revision sends."""
    if a.status == "cancelled":
        return mail.CANCEL
    return mail.ANNOUNCE if a.sequence == 0 else f"{mail.UPDATE}.{a.sequence}"


def queue_pending(table: PlanStore, queues: Queues, a: Announcement) -> Announcement:
    """Queue the first fan-out page of the current revision's notice, unless it is queued already (a retry
    of the request that changed it finishes this; the page's claim absorbs a copy sent twice)."""
    if a.queued < a.sequence and a.status in (_OPEN, "cancelled"):
        queues.send_fanout_page(FanoutPage(a.announcement_id, notice_of(a)))
        table.set_announcement(a.announcement_id, queued=a.sequence)
        a = replace(a, queued=a.sequence)
    return a


def list_for(table: PlanStore, who: Identity, params: dict[str, str]) -> dict[str, Any]:
    """Release engineers: every announcement, newest first, a page at a time. Customers: those of their
    contract's products when their tier has the advance notice and their support period runs; any other: 403."""
    v.reject_unknown(params, ("cursor", "limit"))
    if RELEASE_ENGINEERS in who.groups:
        limit = int(v.integer({"limit": number(params.get("limit", str(LIST_LIMIT)))}, "limit", low=1, high=100) or 1)
        items, cursor = table.list_announcements(limit=limit, cursor=params.get("cursor") or None)
        return {"items": [a.public() for a in items], "next": cursor}
    account = table.get_account(who.require_customer())
    tier = policy(account.tier) if account else None
    if account is None or tier is None or not tier.advance_update_notice:
        raise Forbidden("Advance notices of upcoming releases are part of Xtreme Elite.", code="not_entitled")
    if not (active := period_active(account.contract(), datetime.now(UTC))):  # the whole entitlement, not the tier
        raise Forbidden(active.message, code=active.reason.value)
    return {"items": [a.public() for a in table.product_announcements(account.products)], "next": None}


def on_published(table: AnnouncedStore, release: Release) -> Release:
    """The publish hook: a release of an announced product and version marks the announcement released,
    and names it on the release (its notice then threads under the announcement)."""
    found = table.announcement_of(release.product, release.version)
    if found is None or release.announcement_id or found.release_id not in (None, release.release_id):
        return release  # none, linked already, or another release of that version fulfilled it
    table.set_announcement(found.announcement_id, status="released", release_id=release.release_id)
    linked = table.set_release_fields(
        release.release_id, in_status=ReleaseStatus.PUBLISHED, announcement_id=found.announcement_id
    )
    return linked or release


def threaded(
    table: ThreadingStore, release: Release, todo: list[Recipient], region: str, compose: Callable[[Recipient], bytes]
) -> Callable[[Recipient], bytes]:
    """``compose`` with each message of one who got the announcement replying to it (In-Reply-To and
    References first among the headers: a header's place does not matter, and the template stays fast)."""
    parents = table.announcement_parents(str(release.announcement_id), todo)

    def compose_threaded(r: Recipient) -> bytes:
        raw = compose(r)
        if r.key not in parents or b"\nIn-Reply-To:" in raw.split(b"\r\n\r\n", 1)[0]:
            return raw
        parent = mail.ses_message_id_header(parents[r.key], region).encode("ascii")
        return b"In-Reply-To: " + parent + b"\r\nReferences: " + parent + b"\r\n" + raw

    return compose_threaded
