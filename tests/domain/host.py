"""What the host process brings to the domain: its JSON log lines (what an operator searching CloudWatch
finds) and its local time zone (which nothing the domain says may depend on)."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib import observability


@contextmanager
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The INFO lines logged within, parsed, in the list yielded (filled when the block ends)."""
    lines: list[dict[str, Any]] = []
    out = io.StringIO()
    monkeypatch.setattr(observability.logger.registered_handler, "stream", out)
    level = observability.logger.log_level
    observability.logger.setLevel("INFO")
    try:
        yield lines
    finally:
        observability.logger.setLevel(level)
        lines += [json.loads(line) for line in out.getvalue().splitlines()]


@contextmanager
def local_time_zone(name: str) -> Iterator[None]:
    """Run the block as on a host whose local time is ``name`` (Lambda's is UTC, a laptop's may not be)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
