"""SQS adapter: the pipeline's messages (``chalicelib.domain.core.messages``) sent by intent to the queues it knows by
name (``chalicelib.names``), in batches of ten, queue URLs resolved once per container."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chalicelib import names as names_module
from chalicelib.domain.core.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from chalicelib.domain.core.messages import AccountChange, DeliveryBatch, FanoutPage, UploadReady
    from chalicelib.domain.digests.messages import DigestWork
    from chalicelib.names import ResourceNames

_SQS_BATCH = 10


class Queues:
    def __init__(self, client: SQSClient | None, names: ResourceNames | None = None) -> None:
        self._sqs = client
        self.names = names or names_module.current()
        self._urls: dict[str, str] = {}

    # -- by intent ------------------------------------------------------------------------------------------

    def send_fanout_page(self, page: FanoutPage, *, delay: int = 0) -> None:
        self.send(self.names.fanout_queue, page.to_json(), delay=delay)

    def delivery_queue(self, *, critical: bool) -> str:
        """Severity-1 notices have a queue (and functions) of their own, so that no backlog delays them."""
        return self.names.critical_queue if critical else self.names.deliver_queue

    def send_batches(self, batches: Sequence[DeliveryBatch], *, critical: bool, delay: int = 0) -> None:
        self.send_many(self.delivery_queue(critical=critical), [b.to_json() for b in batches], delay=delay)

    def send_batch(self, batch: DeliveryBatch, *, critical: bool, delay: int = 0) -> None:
        self.send_batches([batch], critical=critical, delay=delay)

    def redrive(self, queue: str, batch: DeliveryBatch) -> None:
        """A stuck batch back on the delivery queue its claim recorded."""
        if queue not in (self.names.deliver_queue, self.names.critical_queue):
            raise ValueError(f"{queue!r} is not a delivery queue of stage {self.names.stage}")
        self.send(queue, batch.to_json())

    def send_digest_work(self, work: Sequence[DigestWork], *, delay: int = 0) -> None:
        """Digest pages to plan and digest batches to send, on the digest queue."""
        self.send_many(self.names.digest_queue, [w.to_json() for w in work], delay=delay)

    def send_account_change(self, change: AccountChange) -> None:
        self.send(self.names.accounts_queue, change.to_json())

    def send_scheduled(self, bodies: Sequence[Mapping[str, Any]], *, delay: int = 0) -> None:
        """Batches of due accounts' reviews or warnings (``chalicelib.domain.accounts.due.ScheduledBatch``)."""
        self.send_many(self.names.scheduled_queue, bodies, delay=delay)

    def send_upload_ready(self, ready: UploadReady) -> None:
        self.send(self.names.uploads_queue, ready.to_json())

    # -- transport ------------------------------------------------------------------------------------------

    def url(self, name: str) -> str:
        if name not in self._urls:
            assert self._sqs is not None, "Queues without an SQS client cannot send"
            self._urls[name] = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[name]

    def send(self, name: str, body: Mapping[str, Any], *, delay: int = 0) -> None:
        self.send_many(name, [body], delay=delay)

    def send_many(self, name: str, bodies: Sequence[Mapping[str, Any]], *, delay: int = 0) -> None:
        url = self.url(name)
        assert self._sqs is not None
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
