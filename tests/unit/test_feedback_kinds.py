"""SES feedback's kinds, told apart without AWS: a permanent bounce or a complaint suppresses whichever shape
SES published it in (``notificationType``, ``eventType``, or neither, told by its body); a transient bounce
is counted; anything else changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.domain.subscriptions import feedback


@dataclass
class _Table:
    """The two calls feedback makes, recorded."""

    suppressed: list[tuple[str, str, str, str]] = field(default_factory=list)
    transient: list[str] = field(default_factory=list)

    def suppress_address(self, address: str, *, reason: str, detail: str, feedback_id: str) -> list[Any]:
        self.suppressed.append((address, reason, detail, feedback_id))
        return ["sub-1", "sub-2"]

    def count_transient_bounce(self, address: str) -> int:
        self.transient.append(address)
        return len(self.transient)


def _bounce(bounce_type: str = "Permanent") -> dict[str, Any]:
    recipients = [{"emailAddress": "gone@acme.example"}, {"status": "5.1.1"}]  # a row without an address: skipped
    return {"bounceType": bounce_type, "bounceSubType": "General", "bouncedRecipients": recipients, "feedbackId": "f1"}


def _complaint() -> dict[str, Any]:
    return {"complainedRecipients": [{"emailAddress": "angry@acme.example"}], "complaintFeedbackType": "abuse"}


def _message(kind: str, body: dict[str, Any], shape: str | None) -> str:
    msg: dict[str, Any] = {kind.lower(): body, "mail": {"destination": ["x@acme.example"]}}
    if shape:
        msg[shape] = kind
    return json.dumps(msg)


@pytest.mark.parametrize("shape", ["notificationType", "eventType", None])
def test_a_permanent_bounce_suppresses_in_every_shape_ses_publishes(shape: str | None) -> None:
    table = _Table()
    out = feedback.handle(table, _message("Bounce", _bounce(), shape))  # type: ignore[arg-type]
    assert table.suppressed == [("gone@acme.example", "bounce", "General: gone@acme.example", "f1")]
    assert out.suppressed == ["gone@acme.example"] and out.subscriptions_off == 2 and table.transient == []


@pytest.mark.parametrize("shape", ["notificationType", "eventType", None])
def test_a_complaint_suppresses_in_every_shape_ses_publishes(shape: str | None) -> None:
    table = _Table()
    out = feedback.handle(table, _message("Complaint", _complaint(), shape))  # type: ignore[arg-type]
    assert table.suppressed == [("angry@acme.example", "complaint", "abuse", "")]
    assert out.suppressed == ["angry@acme.example"] and out.subscriptions_off == 2


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_a_bounce_that_is_not_permanent_is_counted_and_suppresses_nothing(bounce_type: str) -> None:
    table = _Table()
    out = feedback.handle(table, _message("Bounce", _bounce(bounce_type), None))  # type: ignore[arg-type]
    assert table.suppressed == [] and table.transient == out.transient == ["gone@acme.example"]


@pytest.mark.parametrize(
    "message",
    [
        json.dumps({"notificationType": "Delivery", "bounce": _bounce()}),  # the type says it: the body is not read
        json.dumps({"eventType": "Reject", "reject": {"reason": "Bad content"}, "mail": {"destination": ["a"]}}),
        json.dumps({"notificationType": "Open"}),
        json.dumps(["Bounce"]),
        "not json",
    ],
)
def test_feedback_that_is_no_bounce_or_complaint_changes_nothing(message: str) -> None:
    table = _Table()
    out = feedback.handle(table, message)  # type: ignore[arg-type]
    assert table.suppressed == table.transient == [] and out == feedback.Outcome()
