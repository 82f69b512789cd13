"""The local event runner feeds handlers as Lambda would: retries on failure, DLQ after maxReceiveCount."""

from __future__ import annotations

from typing import Any

import boto3

from chalicelib.names import ResourceNames
from tests.app.provisioned_queues import max_receives


def test_a_poison_message_is_retried_then_lands_in_the_dlq(runner: Any, provisioned: str) -> None:
    # GIVEN a message no handler can process on the fan-out queue
    sqs = boto3.client("sqs", region_name="us-east-1")
    names = ResourceNames("local")
    url = sqs.get_queue_url(QueueName=names.fanout_queue)["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName=f"{names.fanout_queue}-dlq")["QueueUrl"]
    runner.pump()
    failures_before = runner.stats.failures
    sqs.send_message(QueueUrl=url, MessageBody="{not json")

    # WHEN the runner feeds the queue until it is empty
    runner.pump()

    # THEN the handler saw it exactly maxReceiveCount times, and the DLQ holds it
    assert runner.stats.failures - failures_before == max_receives(names.fanout_queue)
    got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in got] == ["{not json"]
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
