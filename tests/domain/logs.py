"""The handlers' structured log lines as a test reads them: the JSON the Powertools logger writes, at INFO."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.observability import logger


@contextmanager
def log_lines(*fields: str) -> Iterator[list[tuple[Any, ...]]]:
    """Each line logged within, as (level, message, *fields), filled in when the block ends."""
    lines: list[tuple[Any, ...]] = []
    out, handler = io.StringIO(), logger.registered_handler
    # Swapped, not setStream: that flushes the stream it replaces, which a runner capturing output may have closed.
    stream, level, handler.stream = handler.stream, logger.log_level, out  # type: ignore[attr-defined]
    logger.setLevel("INFO")
    try:
        yield lines
    finally:
        handler.stream = stream  # type: ignore[attr-defined]
        logger.setLevel(level)
        for line in map(json.loads, out.getvalue().splitlines()):
            lines.append((line["level"], line["message"], *(line.get(f) for f in fields)))
