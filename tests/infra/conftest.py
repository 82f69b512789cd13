"""The template ``make package STAGE=prod`` writes, packaged once for every test of it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.package import package

STAGE = "prod"


@pytest.fixture(scope="session")
def packaged_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    started = time.monotonic()
    path = package(STAGE, out=tmp_path_factory.mktemp("package") / STAGE)
    print(f"\nmake package STAGE={STAGE}: {time.monotonic() - started:.1f} s")
    assert (path.parent / "deployment.zip").stat().st_size > 0
    return path


@pytest.fixture(scope="module")
def packaged(packaged_path: Path) -> Iterator[dict[str, Any]]:
    yield json.loads(packaged_path.read_text())
