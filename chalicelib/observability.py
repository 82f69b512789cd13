"""Logging and metrics, set up once: structured JSON logs and CloudWatch EMF metrics (Powertools)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="patchcast")
metrics = Metrics(namespace="Patchcast", service="patchcast")

# Delivery outcome -> metric name (EMF, namespace Patchcast).
_OUTCOME_METRICS = {"sent": "EmailsSent", "failed": "EmailsFailed", "suppressed": "EmailsSuppressed",
                    "retry": "EmailsRetried", "skipped": "EmailsSkipped"}  # fmt: skip


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
