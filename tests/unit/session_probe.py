"""Not collected by the suite (no ``test_`` prefix): ``tests/unit/test_session_records.py`` runs it under xdist
beside other files, and it writes down what the session's records held when it judged them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.session_records import Records


@pytest.mark.after_all
def test_probe(session_records: Records) -> None:
    out = {"ran": sorted(session_records.ran), "worker": os.environ.get("PYTEST_XDIST_WORKER")}
    Path(os.environ["PATCHCAST_PROBE_OUT"]).write_text(json.dumps(out))
