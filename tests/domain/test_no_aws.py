"""The domain tests need no AWS: run on their own (without the session's moto server, whose fixtures live
in tests/conftest.py), they pass with neither boto3 nor moto ever imported, nor any of botocore's clients.
(Powertools, under the domain's logging, imports the bare ``botocore`` package for its version: no client.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

_RUN = """
import json, sys, pytest
code = pytest.main(["-q", "-p", "no:cacheprovider", "--noconftest", "--ignore", sys.argv[2], sys.argv[1]])
aws = sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "moto") or m.startswith("botocore."))
print(json.dumps({"code": int(code), "aws": aws}))
"""


def test_the_domain_tests_pass_without_importing_boto3_or_moto() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(HERE), __file__], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, out.stdout[-3000:]
    assert result["aws"] == [], f"imported by the domain tests: {result['aws']}"
