"""Every Lambda function of the app imports ``app`` first: that import registers routes and nothing more.

The figure itself (import time against boto3's) is a benchmark (``make bench``); this test keeps the
reason it holds: no domain module, AWS SDK, Powertools or MIME code is loaded until a handler runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What registering the routes needs: the blueprints, settings and resource names, errors and the HTTP edge.
ALLOWED = {"chalicelib", "chalicelib.auth", "chalicelib.errors", "chalicelib.http", "chalicelib.names",
           "chalicelib.settings", "chalicelib.wiring"}  # fmt: skip
HEAVY = ("boto3", "botocore", "aws_lambda_powertools", "jwt", "email.mime", "email_validator", "zoneinfo")


def loaded_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_importing_app_loads_only_what_registering_the_routes_needs() -> None:
    modules = loaded_after("import app")
    ours = {m for m in modules if m.startswith("chalicelib") and not m.startswith("chalicelib.routes")}
    assert ours <= ALLOWED, f"imported at cold start: {sorted(ours - ALLOWED)}"
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == [], f"imported at cold start: {heavy}"


def test_a_route_loads_its_domain_module_when_it_runs() -> None:
    # The guard above must not pass because the app is broken: the handler's import still works.
    modules = loaded_after("import app; from chalicelib.routes import catalog; catalog.tiers()")
    assert "chalicelib.entitlements" in modules
