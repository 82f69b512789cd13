"""What SQS itself enforces on a provisioned queue, read from the queue rather than from the code under test."""

from __future__ import annotations

import json

import boto3


def max_receives(queue: str) -> int:
    """The queue's maxReceiveCount as provisioned from infra/template.py: receives before its DLQ."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    return int(json.loads(policy)["maxReceiveCount"])
