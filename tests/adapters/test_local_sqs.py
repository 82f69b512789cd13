"""The local AWS's SQS receives as moto's does without its per-message walk of the queue
(``patchcast_tools.local.awsd.lean_sqs``): a message past its queue's retention period is dropped, one
within it is received, and a delayed one waits its delay, stamped with the wall clock."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from tests.conftest import unique


@pytest.fixture
def queue(moto_server: str) -> tuple[Any, str, Any]:
    from moto.sqs.models import sqs_backends

    client = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_server)
    name = unique("retained")
    url = client.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    backend = sqs_backends["123456789012"]["us-east-1"]
    return client, url, backend.get_queue(name)


def _age(queue: Any, seconds: float) -> None:
    for message in queue._messages:
        message.sent_timestamp -= int(seconds * 1000)


def test_a_message_past_its_queue_s_retention_period_is_not_received(queue: tuple[Any, str, Any]) -> None:
    client, url, backend_queue = queue
    client.send_message(QueueUrl=url, MessageBody="old")
    _age(backend_queue, 61)
    assert client.receive_message(QueueUrl=url).get("Messages", []) == []


def test_a_message_within_its_queue_s_retention_period_is_received(queue: tuple[Any, str, Any]) -> None:
    client, url, backend_queue = queue
    client.send_message(QueueUrl=url, MessageBody="recent")
    _age(backend_queue, 50)
    assert [m["Body"] for m in client.receive_message(QueueUrl=url)["Messages"]] == ["recent"]


def test_a_delayed_message_is_received_once_its_delay_is_over(queue: tuple[Any, str, Any]) -> None:
    client, url, _ = queue
    client.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    sent = time.monotonic()
    assert client.receive_message(QueueUrl=url).get("Messages", []) == []
    got = client.receive_message(QueueUrl=url, WaitTimeSeconds=3, MessageSystemAttributeNames=["SentTimestamp"])
    assert [m["Body"] for m in got["Messages"]] == ["later"] and time.monotonic() - sent >= 0.9
    stamped = int(got["Messages"][0]["Attributes"]["SentTimestamp"]) / 1000  # the wall clock, as SQS stamps it
    assert abs(stamped - time.time()) < 2.5
