"""Pure pieces of subscriptions and feedback: the one-click body, the masked address, the feedback parser's types, the
delivery skip of a suppressed subscriber, and the per-product '*' features."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain.core import entitlements
from chalicelib.domain.core.models import Recipient, Subscription
from chalicelib.domain.delivery import recheck as delivery_recheck
from chalicelib.domain.subscriptions import feedback
from chalicelib.domain.subscriptions import preregistration as subscriptions
from tests.unit.test_mail import _release


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ("List-Unsubscribe=One-Click", True),
        (b"List-Unsubscribe=One-Click\r\n", True),
        ('--x\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--x--', True),
        ("List-Unsubscribe=Two-Clicks", False),
        ("", False),
        (None, False),
    ],
)
def test_the_rfc8058_body_is_recognised_form_encoded_or_multipart(body: Any, ok: bool) -> None:
    assert subscriptions.is_one_click(body) is ok


def test_the_unsubscribe_page_masks_the_address() -> None:
    assert subscriptions.masked("operations@acme.example") == "o*********@acme.example"


def _sub(status: str) -> Subscription:
    return Subscription("a", "s", "x@y.example", ("M3",), ("patch",), 4, ("ga",), status, "t")


@pytest.mark.parametrize(("status", "outcome"), [("suppressed", "suppressed"), ("unsubscribed", "skipped")])
def test_delivery_skips_a_subscriber_who_turned_off_since_fan_out(status: str, outcome: str) -> None:
    r = Recipient("a", "s", "x@y.example", "elite")
    todo, done = delivery_recheck.partition([r], set(), {"a#s": _sub(status)}, set(), _release(severity=2))
    assert todo == [] and [o.status for o in done] == [outcome]


class _Recorder:
    def __init__(self) -> None:
        self.suppressed: list[tuple[str, str]] = []
        self.transient: list[str] = []

    def suppress_address(self, address: str, *, reason: str, detail: str, feedback_id: str) -> list[Any]:
        self.suppressed.append((address, reason))
        return []

    def count_transient_bounce(self, address: str) -> int:
        self.transient.append(address)
        return len(self.transient)


@pytest.mark.parametrize(
    ("message", "suppressed", "transient"),
    [
        ({"eventType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "a@x"}]}},
         [("a@x", "bounce")], []),
        ({"notificationType": "Bounce", "bounce": {"bounceType": "Transient",
          "bouncedRecipients": [{"emailAddress": "a@x"}, {"emailAddress": "b@x"}]}}, [], ["a@x", "b@x"]),
        ({"notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "c@x"}]}},
         [("c@x", "complaint")], []),
        ({"notificationType": "Bounce, Complaint, or Delivery.", "complaint": {"complainedRecipients": [{"emailAddress": "d@x"}]}},
         [("d@x", "complaint")], []),
        ({"eventType": "Delivery", "delivery": {}}, [], []),
        ({"eventType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": "junk"}}, [], []),
    ],
)  # fmt: skip
def test_feedback_tells_permanent_from_transient_in_both_ses_shapes(
    message: dict[str, Any], suppressed: list[tuple[str, str]], transient: list[str]
) -> None:
    table = _Recorder()
    feedback.handle(table, json.dumps(message))  # type: ignore[arg-type]
    assert table.suppressed == suppressed and table.transient == transient


def test_a_product_offers_the_starred_features_the_tier_includes() -> None:
    assert entitlements.product_features("xtreme", ("X10", "P1", "E7")) == ["X10"]
    assert entitlements.product_features("elite", ("X10", "E7")) == ["X10", "E7"]
    assert entitlements.product_features("premium", ()) == []
