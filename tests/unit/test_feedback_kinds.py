"""SES feedback's kinds, told apart without AWS: a permanent bounce or a complaint suppresses whichever shape
SES published it in (``notificationType``, ``eventType``, or neither, told by its body); a transient bounce
is counted; anything else changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.domain.subscriptions import feedback
from tests.domain.logs import log_lines


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


def test_a_type_that_is_neither_bounce_nor_complaint_wins_over_the_body_in_either_field() -> None:
    for field_name in ("notificationType", "eventType"):
        table = _Table()
        feedback.handle(table, json.dumps({field_name: "Delivery", "bounce": _bounce(), "complaint": _complaint()}))  # type: ignore[arg-type]
        assert table.suppressed == table.transient == []


def test_each_address_of_a_bounce_is_suppressed_and_logged_with_what_is_missing_left_empty() -> None:
    table = _Table()
    bounce = {
        "bounceType": "Permanent",
        "bouncedRecipients": [{"emailAddress": "a@x.example"}, {"emailAddress": "b@x.example"}],
    }
    with log_lines("reason", "subscriptions_off") as lines:
        out = feedback.handle(table, json.dumps({"bounce": bounce}))  # type: ignore[arg-type]
    assert table.suppressed == [
        ("a@x.example", "bounce", ": a@x.example", ""),
        ("b@x.example", "bounce", ": b@x.example", ""),
    ]
    assert out.subscriptions_off == 4 and lines == [("INFO", "address suppressed", "bounce", 2)] * 2


def test_feedback_that_cannot_be_read_or_a_reject_is_logged_as_an_error() -> None:
    with log_lines("head", "reason", "to") as lines:
        feedback.handle(_Table(), "x" * 300)  # type: ignore[arg-type]
        feedback.handle(_Table(), "[1]")  # type: ignore[arg-type]
        reject = {"eventType": "Reject", "reject": {"reason": "Bad content"}, "mail": {"destination": ["a", "b"]}}
        feedback.handle(_Table(), json.dumps(reject))  # type: ignore[arg-type]
    assert lines == [
        ("ERROR", "SES feedback is not JSON; dropped", "x" * 200, None, None),
        ("ERROR", "SES feedback is not a JSON object; dropped", None, None, None),
        ("ERROR", "SES rejected a message after accepting it", None, "Bad content", 2),
    ]


def test_what_a_complaint_or_a_reject_leaves_out_is_filled_in_and_what_is_not_acted_on_is_logged() -> None:
    table = _Table()
    with log_lines("kind", "count", "bounce_type", "reason") as lines:
        feedback.handle(table, json.dumps({"complaint": {"complainedRecipients": [{"emailAddress": "c@x.example"}]}}))  # type: ignore[arg-type]
        feedback.handle(
            table,
            json.dumps({"bounce": {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": "t@x.example"}]}}),
        )  # type: ignore[arg-type]
        feedback.handle(table, json.dumps({"eventType": "Reject", "reject": {}}))  # type: ignore[arg-type]
        feedback.handle(table, json.dumps({"notificationType": "Open"}))  # type: ignore[arg-type]
    assert table.suppressed == [("c@x.example", "complaint", "complaint", "")]
    assert lines[1:] == [
        ("INFO", "transient bounce", None, 1, "Transient", None),
        ("ERROR", "SES rejected a message after accepting it", None, None, None, ""),
        ("INFO", "SES feedback ignored", "Open", None, None, None),
    ]
