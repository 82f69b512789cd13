"""The event runner: feeds every event handler ``app.py`` registers from the local AWS, as Lambda would.

- SQS handlers: long-poll the queue, invoke with a Lambda-shaped event of ``batch_size`` records,
  delete on success; on failure the message returns after a short visibility (Lambda waits for the
  queue's visibility timeout; locally that would be minutes) and the queue's redrive policy moves it
  to the DLQ after ``maxReceiveCount`` receives.
- SNS feeds handlers only through an SQS queue subscribed to its topic (SES feedback), as in AWS: the
  runner has no SNS shim, so a handler on a topic fails to start here rather than run kinder than Lambda
  (an asynchronous SNS invocation is retried twice, then dropped).
- Schedules: invoked on a compressed period locally.

Every invocation gets a context whose remaining time counts down from the function's ``lambda_timeout``
in ``.chalice/config.json`` (Lambda does not stop a slow handler here, but the handler can see its deadline).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("patchcast.runner")

CHALICE_CONFIG = Path(__file__).resolve().parents[2] / ".chalice" / "config.json"
DEFAULT_TIMEOUT = 60  # Chalice's lambda_timeout when the config names none
# Lambda's SQS pollers long-poll for 20 seconds: an idle queue costs one receive per 20 s, not one per
# second (moto re-checks a waiting receive every second, so a message delayed or made visible again is
# still picked up within a second)
LONG_POLL_SECONDS = 20
CLOSE_SECONDS = 2.0  # close() waits this long in all; a poller still in its long poll ends on its own


def function_timeouts(config: Path = CHALICE_CONFIG, stage: str = "local") -> dict[str, int]:
    """Each function's ``lambda_timeout`` (seconds) as Chalice resolves it: the stage's, else the top level's."""
    doc = json.loads(config.read_text())
    stage_doc = doc.get("stages", {}).get(stage, {})
    default = int(stage_doc.get("lambda_timeout", doc.get("lambda_timeout", DEFAULT_TIMEOUT)))
    names = {*doc.get("lambda_functions", {}), *stage_doc.get("lambda_functions", {})}
    return {
        name: int(
            stage_doc.get("lambda_functions", {}).get(name, {}).get("lambda_timeout")
            or doc.get("lambda_functions", {}).get(name, {}).get("lambda_timeout")
            or default
        )
        for name in names
    }


@dataclass
class LambdaContext:
    function_name: str
    timeout_seconds: float = DEFAULT_TIMEOUT
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:patchcast-local"
    log_group_name: str = "/aws/lambda/patchcast-local"
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """As Lambda's: the function's timeout less the time since this invocation started (never below 0)."""
        return max(0, int(1000 * (self.timeout_seconds - (time.monotonic() - self.started))))


@dataclass
class Stats:
    invocations: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, ok: bool) -> None:
        with self.lock:
            self.invocations += 1
            self.failures += 0 if ok else 1


class Runner:
    def __init__(
        self,
        chalice_app: Any,
        session: Any,
        *,
        concurrency: int = 4,
        retry_seconds: int = 2,
        schedule_seconds: float = 5.0,
    ) -> None:
        self.app = chalice_app
        from botocore.config import Config

        # one connection per polling thread (deliver queues x concurrency, the others x 2, schedules)
        self.sqs = session.client("sqs", config=Config(max_pool_connections=64))
        self.region = session.region_name or "us-east-1"
        self.concurrency = concurrency
        self.retry_seconds = retry_seconds
        self.schedule_seconds = schedule_seconds
        self.stop = threading.Event()
        self.stats = Stats()
        self.timeouts = function_timeouts()  # by function name; tests shorten one to see its deadline
        self.threads: list[threading.Thread] = []

    # -- wiring ----------------------------------------------------------------------------------
    def start(self) -> None:
        for source in self.app.event_sources:
            kind = type(source).__name__
            handler = self.app.handler_map[source.name]
            if kind == "SQSEventConfig":
                url = self.sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
                workers = self.concurrency if "deliver" in source.queue else 2
                for i in range(workers):
                    self._spawn(f"{source.name}-{i}", self._poll_sqs, handler, source.name, url, source.batch_size)
            elif kind in ("CloudWatchEventConfig", "ScheduledEventConfig"):  # @app.schedule makes the latter
                expression = source.schedule_expression
                expression = expression.to_string() if hasattr(expression, "to_string") else str(expression)
                self._spawn(source.name, self._schedule, handler, source.name, expression)
            else:
                raise RuntimeError(f"the local runner cannot feed {kind} handler {source.name}")

    def close(self) -> None:
        self.stop.set()
        deadline = time.monotonic() + CLOSE_SECONDS
        for t in self.threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=f"runner-{name}", daemon=True)
        t.start()
        self.threads.append(t)

    def pump(self, *, idle_rounds: int = 2, max_rounds: int = 1000) -> int:
        """Synchronously feed every SQS handler until all queues stay empty; for tests. Returns invocations."""
        sources = [
            (s, self.sqs.get_queue_url(QueueName=s.queue)["QueueUrl"])
            for s in self.app.event_sources
            if type(s).__name__ == "SQSEventConfig"
        ]
        done, idle = 0, 0
        for _ in range(max_rounds):
            worked = False
            for source, url in sources:
                got = self.sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=min(getattr(source, "batch_size", 1), 10), AttributeNames=["All"]
                )
                messages = got.get("Messages", [])
                if not messages:
                    continue
                worked = True
                done += 1
                handler = self.app.handler_map[source.name]
                event = self._sqs_event(messages, source.queue)
                if self._invoke(handler, source.name, event):
                    for m in messages:
                        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                else:
                    for m in messages:
                        self.sqs.change_message_visibility(
                            QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                        )
            idle = 0 if worked else idle + 1
            if idle >= idle_rounds:
                break
        return done

    # -- feeding ---------------------------------------------------------------------------------
    def _invoke(self, handler: Any, name: str, event: dict[str, Any]) -> bool:
        try:
            handler(event, LambdaContext(function_name=name, timeout_seconds=self.timeouts.get(name, DEFAULT_TIMEOUT)))
        except Exception as exc:  # the handler failed: as Lambda, leave the message for a retry
            self.stats.count(False)
            log.warning("handler %s failed: %s\n%s", name, exc, "".join(traceback.format_exception(exc)[-3:]))
            return False
        self.stats.count(True)
        return True

    def _poll_sqs(self, handler: Any, name: str, url: str, batch_size: int) -> None:
        arn = url.rsplit("/", 1)[-1]
        while not self.stop.is_set():
            try:
                got = self.sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(batch_size, 10),
                    WaitTimeSeconds=LONG_POLL_SECONDS,
                    AttributeNames=["All"],
                )
            except Exception as exc:  # the local AWS is stopping or restarting
                if self.stop.wait(0.5):
                    return
                log.debug("receive failed: %s", exc)
                continue
            messages = got.get("Messages", [])
            if messages and self.stop.is_set():  # received as the runner closed: hand them back untouched
                self._release(url, messages, 0)
                return
            if not messages:
                continue
            event = self._sqs_event(messages, arn)
            if self._invoke(handler, name, event):
                self.sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )
            else:
                self._release(url, messages, self.retry_seconds)

    def _release(self, url: str, messages: list[dict[str, Any]], seconds: int) -> None:
        for m in messages:
            self.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=seconds
            )

    def _sqs_event(self, messages: list[dict[str, Any]], queue_name: str) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:{self.region}:123456789012:{queue_name}",
                    "awsRegion": self.region,
                }
                for m in messages
            ]
        }

    def _schedule(self, handler: Any, name: str, expression: str) -> None:
        period = self.schedule_seconds
        match = re.match(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
        if match is None and not expression.startswith("cron("):
            raise RuntimeError(f"unknown schedule expression {expression!r} for {name}")
        while not self.stop.wait(period):
            event: dict[str, Any] = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": "",
                "region": self.region,
                "resources": [f"arn:aws:events:{self.region}:123456789012:rule/{name}"],
                "detail": {},
            }
            self._invoke(handler, name, event)
