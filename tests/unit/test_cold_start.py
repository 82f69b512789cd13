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
# Everything `import app` may load beyond the standard library and chalice: the app, the blueprints, and
# what registering the routes needs (settings and resource names, errors, the HTTP edge). An allow-list:
# a new import of anything else (a domain module, boto3, Powertools, a new dependency) fails here.
ALLOWED = {
    "app",
    "chalicelib",
    "chalicelib.adapters",
    "chalicelib.adapters.settings",
    "chalicelib.adapters.wiring",
    "chalicelib.domain",
    "chalicelib.domain.access",  # a package's __init__ is its docstring only
    "chalicelib.domain.access.auth",
    "chalicelib.domain.core",
    "chalicelib.domain.core.errors",
    "chalicelib.domain.core.states",
    "chalicelib.names",
}
ALLOWED_PACKAGES = ("chalice", "chalicelib.routes")  # with their submodules
# Standard-library code that costs a cold start as much as a dependency would: MIME and time zone data.
COSTLY_STDLIB = ("email.mime", "zoneinfo")


def loaded_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in packages)


def test_importing_app_loads_only_what_registering_the_routes_needs() -> None:
    modules = loaded_after("import app") - loaded_after("pass")  # the interpreter's own start-up is not ours
    beyond = {
        m
        for m in modules
        if m.split(".")[0] not in sys.stdlib_module_names and m not in ALLOWED and not _within(m, ALLOWED_PACKAGES)
    }
    assert beyond == set(), f"imported at cold start, not in the allow-list: {sorted(beyond)}"
    costly = sorted(m for m in modules if _within(m, COSTLY_STDLIB))
    assert costly == [], f"imported at cold start: {costly}"


def test_a_route_loads_its_domain_module_when_it_runs() -> None:
    # The guard above must not pass because the app is broken: the handler's import still works.
    modules = loaded_after("import app; from chalicelib.routes import tiers; tiers.tiers()")
    assert "chalicelib.domain.core.entitlements" in modules
