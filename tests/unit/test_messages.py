"""The messages between the Lambdas: each survives its JSON round trip as SQS carries it, and a malformed
body is refused with one error (``MalformedMessage``) naming what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain.core.messages import (
    AccountChange,
    DeliveryBatch,
    FanoutPage,
    MalformedMessage,
    UploadReady,
    retry_batch_id,
    uploaded_keys,
)
from chalicelib.domain.core.models import Recipient

PEOPLE = (
    Recipient("acme", "s1", "ops@acme.example", "elite"),
    Recipient("acme", "csm", "csm@v.example", "elite", "csm"),
)


def _wire(record: Any) -> str:
    return json.dumps(record.to_json(), separators=(",", ":"))  # what the queues adapter sends


@pytest.mark.parametrize(
    "record",
    [
        FanoutPage("r1"),
        FanoutPage("r1", "recall", 3, "abc=", {"account": "acme", "seen": ["00ff"]}),
        DeliveryBatch("r1", "0-1-abcd", PEOPLE),
        DeliveryBatch("r1", "csm-acme", PEOPLE[1:], "recall", attempt=2, after=("0-0-aa", "0-1-bb"), waits=4),
        AccountChange("acme"),
        AccountChange("acme", "cursor="),
        UploadReady("uploads/r1/sp 1.zip"),
    ],
)
def test_every_message_comes_back_as_it_was_sent(record: Any) -> None:
    assert type(record).from_json(_wire(record)) == record
    assert type(record).from_json(record.to_json()) == record


def test_recipients_travel_as_named_fields_not_positions() -> None:
    body = DeliveryBatch("r1", "b", PEOPLE[:1]).to_json()
    assert body["recipients"] == [
        {
            "account_id": "acme",
            "subscription_id": "s1",
            "email": "ops@acme.example",
            "tier": "elite",
            "role": "subscriber",
        }
    ]


def test_a_retry_batch_holds_only_the_recipients_given_and_counts_its_attempt() -> None:
    # GIVEN a CSM copy that waited, and a batch retried once already
    waited = DeliveryBatch("r1", "csm-acme", PEOPLE, after=("0-0-aa",), waits=3)
    retried = DeliveryBatch("r1", "0-1-ab.r1", PEOPLE, attempt=1)
    # WHEN each hands its unsent recipients on
    first, second = waited.retry(PEOPLE[:1]), retried.retry(PEOPLE[1:])
    # THEN the successors have the one id format, the next attempt, and nothing else of their parent
    assert first == DeliveryBatch("r1", "csm-acme.r1", PEOPLE[:1], attempt=1)
    assert second == DeliveryBatch("r1", "0-1-ab.r1.r2", PEOPLE[1:], attempt=2)
    assert retry_batch_id("0-1-ab") == "0-1-ab.r1" and retry_batch_id("0-1-ab.r1") == "0-1-ab.r1.r2"


def test_the_next_fan_out_page_keeps_the_kind_and_moves_on() -> None:
    page = FanoutPage("r1", "recall", 2, "c1", {"account": "a"})
    assert page.following("c2", {}) == FanoutPage("r1", "recall", 3, "c2", {})


def test_a_page_from_before_kinds_were_written_is_a_release_page() -> None:
    assert FanoutPage.from_json('{"release_id":"r1"}') == FanoutPage("r1", "release", 0, None, {})


@pytest.mark.parametrize(
    ("kind", "body", "names"),
    [
        (FanoutPage, "not json", "not JSON"),
        (FanoutPage, "[1, 2]", "JSON object"),
        (FanoutPage, {"page": 0}, "'release_id'"),
        (FanoutPage, {"release_id": "r1", "page": "1"}, "'page'"),
        (FanoutPage, {"release_id": "r1", "page": -1}, "'page'"),
        (FanoutPage, {"release_id": "r1", "kind": "digest"}, "'kind'"),
        (FanoutPage, {"release_id": "r1", "cursor": 5}, "'cursor'"),
        (FanoutPage, {"release_id": "r1", "carry": ["a"]}, "'carry'"),
        (DeliveryBatch, {"release_id": "r1", "batch_id": "b", "recipients": [["acme", "s1", "e@x", "elite", "subscriber"]]},
         "recipient"),
        (DeliveryBatch, {"release_id": "r1", "batch_id": "b", "recipients": {"a": 1}}, "'recipients'"),
        (DeliveryBatch, {"release_id": "r1", "recipients": []}, "'batch_id'"),
        (DeliveryBatch, {"release_id": "r1", "batch_id": "b", "notice": "spam", "recipients": []}, "'notice'"),
        (DeliveryBatch, {"release_id": "r1", "batch_id": "b", "recipients": [{"account_id": "a", "subscription_id": "s",
                                                                              "email": "e@x", "role": "boss"}]}, "'role'"),
        (DeliveryBatch, {"release_id": "r1", "batch_id": "b", "recipients": [{"account_id": "a", "email": "e@x"}]},
         "'subscription_id'"),
        (DeliveryBatch, {"release_id": "r1", "batch_id": "b", "recipients": [], "after": [1]}, "'after'"),
        (DeliveryBatch, {"release_id": "r1", "batch_id": "b", "recipients": [], "attempt": True}, "'attempt'"),
        (AccountChange, {"cursor": "c"}, "'account_id'"),
        (UploadReady, {"key": "uploads/r/f"}, "'kind'"),
        (UploadReady, {"kind": "upload-ready"}, "'key'"),
    ],
)  # fmt: skip
def test_a_malformed_body_is_refused_with_one_error_naming_what_is_wrong(kind: Any, body: Any, names: str) -> None:
    with pytest.raises(MalformedMessage) as refused:
        kind.from_json(body)
    assert names in str(refused.value)


def test_the_uploads_queue_carries_s3_notifications_and_ours() -> None:
    s3 = {"Records": [{"s3": {"object": {"key": "uploads/r1/sp+1%2B.zip"}}}]}
    assert uploaded_keys(json.dumps(s3)) == ["uploads/r1/sp 1+.zip"]  # S3 URL-encodes the key
    assert uploaded_keys(_wire(UploadReady("uploads/r1/sp 1+.zip"))) == ["uploads/r1/sp 1+.zip"]
    assert uploaded_keys({"Service": "Amazon S3", "Event": "s3:TestEvent"}) == []
    with pytest.raises(MalformedMessage):
        uploaded_keys({"Records": [{"s3": {}}]})
