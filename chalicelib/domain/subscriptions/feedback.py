"""SES feedback (bounces, complaints, rejects) as the feedback queue delivers it (SNS raw delivery: the
body is SES's JSON): a permanent bounce or a complaint suppresses the address and turns its subscriptions
off; a transient bounce is counted and nothing more; a reject (SES found a virus in the message) is
logged as an error, as it says nothing about the address.

Accepts both shapes SES publishes: identity notifications (``notificationType``) and configuration-set
event destinations (``eventType``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.subscriptions.ports import FeedbackStore


@dataclass
class Outcome:
    suppressed: list[str] = field(default_factory=list)
    transient: list[str] = field(default_factory=list)
    subscriptions_off: int = 0


def _kind(msg: dict[str, Any]) -> str:
    kind = str(msg.get("eventType") or msg.get("notificationType") or "")
    if kind in ("Bounce", "Complaint", "Delivery", "Reject"):
        return kind
    # a notification whose type field says nothing useful: tell by its body
    return "Bounce" if "bounce" in msg else "Complaint" if "complaint" in msg else kind


def _addresses(rows: Any) -> list[str]:
    return [str(r["emailAddress"]) for r in rows or [] if isinstance(r, dict) and r.get("emailAddress")]


def handle(table: FeedbackStore, message: str) -> Outcome:
    try:
        msg = json.loads(message)
    except ValueError:
        logger.error("SES feedback is not JSON; dropped", extra={"head": message[:200]})
        return Outcome()
    if not isinstance(msg, dict):
        logger.error("SES feedback is not a JSON object; dropped")
        return Outcome()
    kind, out = _kind(msg), Outcome()
    if kind == "Bounce":
        bounce = msg.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        for address in _addresses(bounce.get("bouncedRecipients")):
            if permanent:
                detail = f"{bounce.get('bounceSubType', '')}: {address}"
                _suppress(table, out, address, "bounce", detail, str(bounce.get("feedbackId", "")))
            else:  # Transient or Undetermined: SES retried already; one more try later may well work
                count = table.count_transient_bounce(address)
                out.transient.append(address)
                logger.info("transient bounce", extra={"count": count, "bounce_type": bounce.get("bounceType")})
    elif kind == "Complaint":
        complaint = msg.get("complaint") or {}
        for address in _addresses(complaint.get("complainedRecipients")):
            detail = str(complaint.get("complaintFeedbackType", "complaint"))
            _suppress(table, out, address, "complaint", detail, str(complaint.get("feedbackId", "")))
    elif kind == "Reject":
        destination = (msg.get("mail") or {}).get("destination") or []
        reason = (msg.get("reject") or {}).get("reason", "")
        logger.error("SES rejected a message after accepting it", extra={"reason": reason, "to": len(destination)})
    else:
        logger.info("SES feedback ignored", extra={"kind": kind})
    return out


def _suppress(table: FeedbackStore, out: Outcome, address: str, reason: str, detail: str, feedback_id: str) -> None:
    turned = table.suppress_address(address, reason=reason, detail=detail, feedback_id=feedback_id)
    out.suppressed.append(address)
    out.subscriptions_off += len(turned)
    logger.info("address suppressed", extra={"reason": reason, "subscriptions_off": len(turned)})
