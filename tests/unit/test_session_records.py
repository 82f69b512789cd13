"""The records of a session (``tests/session_records.py``): what xdist's workers hand over reaches the controller
whole, and the controller runs the ``after_all`` tests once on all of it; and the judgement of the grant a test
is named for (``tests/app/iam_witnesses.json``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.iam_policies import ROOT, witness_problem
from tests.iam_recorder import Call
from tests.session_records import Records

A = "tests/unit/test_text.py::test_a"  # a test that exists only as a name
REAL = "tests/unit/test_session_records.py::test_records_cross_the_wire_unchanged_and_merge"


def test_records_cross_the_wire_unchanged_and_merge() -> None:
    call = Call("api_handler", "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/t", "dynamodb.GetItem")
    one = Records({call: {A}}, {"x from y"}, ["message 0: bad"], {A})
    wire = json.loads(json.dumps(one.to_wire()))  # what execnet may carry: lists and strings
    assert Records.from_wire(wire) == one
    other = Records({call: {REAL}}, set(), ["message 1: bad"], {REAL})
    one.merge(other)
    assert one.calls == {call: {A, REAL}} and one.ran == {A, REAL} and len(one.mail_problems) == 2
    assert one.used_by(REAL) == {call}


def test_under_xdist_the_controller_runs_after_all_tests_on_every_workers_records(tmp_path: Path) -> None:
    # GIVEN two files (a unit of work each, so one per worker) and an after_all test that writes what it saw
    files = ["tests/unit/test_text.py", "tests/unit/test_versions.py", "tests/unit/session_probe.py"]
    out = tmp_path / "probe.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-n", "2", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        # a session of its own, not one of the worker this test may run in (xdist tells its workers by env)
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}, "PATCHCAST_PROBE_OUT": str(out)},
        timeout=300,
    )
    # THEN it ran in the controller (no worker), after both workers, on the records of both
    assert done.returncode == 0, done.stdout[-3000:]
    seen = json.loads(out.read_text())
    assert seen["worker"] is None
    assert {nodeid.split("::")[0] for nodeid in seen["ran"]} == set(files[:2]), seen
    # AND it is reported as any other test
    assert "PASSED tests/unit/session_probe.py::test_probe" in done.stdout, done.stdout[-3000:]


def test_a_grant_is_judged_against_the_test_named_for_it_when_that_test_ran() -> None:
    ran = {REAL}
    # its test ran and used it; its test did not run (a targeted run): nothing to say
    assert witness_problem(REAL, [REAL], ran) is None
    assert witness_problem(REAL, [], set()) is None
    # its test ran without using it: name the test that did, or remove the grant
    assert witness_problem(REAL, [A], ran) == f"its test {REAL} ran without using it: name {A}, which used it"
    assert "remove the grant" in str(witness_problem(REAL, [], ran))
    # no test named, or one that is gone
    assert "names no test: name " + A in str(witness_problem(None, [A], ran))
    assert "which is gone" in str(witness_problem("tests/unit/test_text.py::test_gone", [], ran))
