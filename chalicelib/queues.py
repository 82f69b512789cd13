"""SQS adapter: batched sends of JSON messages by queue name (URLs resolved once per container)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_SQS_BATCH = 10


class Queues:
    def __init__(self, client: SQSClient) -> None:
        self._sqs = client
        self._urls: dict[str, str] = {}

    def url(self, name: str) -> str:
        if name not in self._urls:
            self._urls[name] = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[name]

    def send(self, name: str, body: dict[str, Any], *, delay: int = 0) -> None:
        self.send_many(name, [body], delay=delay)

    def send_many(self, name: str, bodies: Sequence[dict[str, Any]], *, delay: int = 0) -> None:
        url = self.url(name)
        for start in range(0, len(bodies), _SQS_BATCH):
            chunk = bodies[start : start + _SQS_BATCH]
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(b, separators=(",", ":")), "DelaySeconds": min(delay, 900)}
                for i, b in enumerate(chunk)
            ]
            for _attempt in range(5):
                got = self._sqs.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[arg-type]
                failed = {f["Id"] for f in got.get("Failed", [])}
                entries = [e for e in entries if e["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise TransientError(f"SQS refused {len(entries)} messages to {name}")
