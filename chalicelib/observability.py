"""Logging, metrics and tracing, set up once: structured JSON logs, CloudWatch EMF metrics and X-Ray
traces (Powertools). Imported where handlers run, never by ``import app`` (cold start)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.domain.core.states import DeliveryStatus

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

T = TypeVar("T")

logger = Logger(service="patchcast")
metrics = Metrics(namespace="Patchcast", service="patchcast")

# Delivery outcome -> metric name (EMF, namespace Patchcast).
_OUTCOME_METRICS: dict[str, str] = {
    DeliveryStatus.SENT: "EmailsSent",
    DeliveryStatus.FAILED: "EmailsFailed",
    DeliveryStatus.SUPPRESSED: "EmailsSuppressed",
    DeliveryStatus.RETRY: "EmailsRetried",
    DeliveryStatus.SKIPPED: "EmailsSkipped",
}


def count_outcomes(counts: dict[str, int]) -> None:
    for status, name in _OUTCOME_METRICS.items():
        if counts.get(status):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=counts[status])
    if "window_ms" in counts:
        metrics.add_metric(name="DuplicateWindowMs", unit=MetricUnit.Milliseconds, value=counts["window_ms"])


@contextmanager
def flushing_metrics() -> Iterator[None]:
    """Around an event handler's work: emit what it counted as one EMF document, even when it fails.

    Chalice wraps the handler itself, so Powertools' ``log_metrics`` decorator cannot sit on it.
    """
    try:
        yield
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()
            metrics.clear_metrics()  # flush leaves them when metrics are disabled: a warm container would grow


@lru_cache(maxsize=1)
def tracer() -> Tracer:
    """Made on a handler's first call: it patches boto3, so every AWS call becomes a subsegment.
    ``POWERTOOLS_TRACE_DISABLED`` (the tests) turns it into a no-op."""
    from aws_lambda_powertools import Tracer

    return Tracer(service="patchcast")


_cold = [True]


def traced(name: str, call: Callable[[], T]) -> T:
    """One invocation of a Lambda function as the subsegment ``## name``, annotated as Powertools'
    ``capture_lambda_handler`` does (which Chalice's handler signature does not fit)."""
    t = tracer()
    with t.provider.in_subsegment(f"## {name}") as subsegment:
        subsegment.put_annotation(key="ColdStart", value=_cold[0])
        subsegment.put_annotation(key="Service", value="patchcast")
        _cold[0] = False
        return call()


# What an SQS message between the functions says about where it belongs (fan-out pages, delivery batches,
# recall pages, contract changes): carried on every log line, and as trace annotations, while it is handled.
_MESSAGE_KEYS = ("release_id", "notice", "batch_id", "page", "kind", "account_id", "attempt")


@contextmanager
def message_context(message: Any) -> Iterator[None]:
    keys: dict[str, Any] = {}
    if isinstance(message, dict):
        keys = {k: message[k] for k in _MESSAGE_KEYS if message.get(k) is not None}
        accounts = sorted(
            {
                str(r["account_id"])
                for r in message.get("recipients") or []
                if isinstance(r, dict) and r.get("account_id")
            }
        )
        if accounts:
            keys["account_ids"] = accounts
    for key in ("release_id", "batch_id", "account_id"):
        if key in keys:
            tracer().put_annotation(key=key, value=str(keys[key]))
    with logger.append_context_keys(**keys):
        yield
