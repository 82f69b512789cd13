"""The security scan (checkov, in ``.venv-scan``) of the template ``make package STAGE=prod`` writes: no
finding but the exceptions ``infra/scan.py`` gives reasons for, none of those stale, and a template that
drops encryption, logging or tracing fails with the check that says so.

One checkov run scans three variants of the template: as packaged, without its exceptions, and broken.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import scan

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = Path(os.environ.get("PATCHCAST_CHECKOV", ROOT / ".venv-scan" / "bin" / "checkov"))
Finding = tuple[str, str]  # (check id, "Type.Logical")


def _without_exceptions(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for resource in doc["Resources"].values():
        resource.get("Metadata", {}).pop("checkov", None)
    return doc


# Each break, and what the scan must answer (on the template without its exceptions).
def _broken(doc: dict[str, Any]) -> dict[str, Any]:
    doc = _without_exceptions(doc)
    res = doc["Resources"]
    res["DeliverQueue"]["Properties"].pop("SqsManagedSseEnabled", None)  # (already gone: the scan reports it anyway)
    res["Table"]["Properties"].pop("SSESpecification", None)
    res["RestAPI"]["Properties"].pop("AccessLogSetting", None)
    res["RestAPI"]["Properties"].pop("TracingEnabled", None)
    res["OnFanoutLogGroup"]["Properties"].pop("KmsKeyId", None)
    res["FeedbackTopic"]["Properties"].pop("KmsMasterKeyId", None)
    res["OnFanout"]["Properties"].pop("ReservedConcurrentExecutions", None)
    return doc


BREAKS: dict[Finding, str] = {
    ("CKV_PATCHCAST_1", "AWS::SQS::Queue.DeliverQueue"): "the queue's SqsManagedSseEnabled dropped",
    ("CKV_PATCHCAST_1", "AWS::DynamoDB::Table.Table"): "the table's SSESpecification dropped",
    ("CKV_AWS_76", "AWS::Serverless::Api.RestAPI"): "the API's access log dropped",
    ("CKV_AWS_73", "AWS::Serverless::Api.RestAPI"): "the API's tracing dropped",
    ("CKV_AWS_158", "AWS::Logs::LogGroup.OnFanoutLogGroup"): "a log group's key statement dropped",
    ("CKV_AWS_26", "AWS::SNS::Topic.FeedbackTopic"): "the topic's key statement dropped",
    ("CKV_AWS_115", "AWS::Serverless::Function.OnFanout"): "a function's concurrency limit dropped",
}


MISSING = (
    f"{CHECKOV} is missing: make it with `make .venv-scan/.installed` (`make test` does; checkov has a venv of its "
    "own, as its pins conflict with requirements-dev.txt)"
)


@pytest.fixture(scope="module")
def scanned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[Finding]] | None:
    """The findings per variant; None without checkov (each test then fails saying how to install it)."""
    if not CHECKOV.exists():
        return None
    packaged: dict[str, Any] = request.getfixturevalue("packaged")
    folder = tmp_path_factory.mktemp("scan")
    variants = {
        "as_packaged": packaged,
        "without_exceptions": _without_exceptions(packaged),
        "broken": _broken(packaged),
    }
    for name, doc in variants.items():
        (folder / f"{name}.json").write_text(json.dumps(doc))
    done = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(folder),
            "--framework",
            "cloudformation",
            "--external-checks-dir",
            str(ROOT / "infra" / "checks"),
            "--skip-download",
            "--compact",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        timeout=300,
    )
    reports = json.loads(done.stdout or "null")
    assert reports is not None, f"checkov printed no report (exit {done.returncode}): {done.stderr[-2000:]}"
    found: dict[str, set[Finding]] = {name: set() for name in variants}
    for report in reports if isinstance(reports, list) else [reports]:
        for check in report.get("results", {}).get("failed_checks", []):
            found[Path(check["file_path"]).stem].add((check["check_id"], check["resource"]))
    return found


def _found(scanned: dict[str, set[Finding]] | None) -> dict[str, set[Finding]]:
    """The findings, or the test fails (not errs) with how to install checkov: a message, not a trace."""
    if scanned is None:
        pytest.fail(MISSING, pytrace=False)
    return scanned


def test_without_checkov_the_scan_fails_saying_how_to_install_it(tmp_path: Path) -> None:
    test = f"{Path(__file__).relative_to(ROOT)}::test_every_exception_is_still_needed_and_has_a_reason"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", test],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PATCHCAST_CHECKOV": str(tmp_path / "absent" / "checkov")},
        timeout=120,
    )
    assert done.returncode == 1, done.stdout
    assert "1 failed" in done.stdout and "make .venv-scan/.installed" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout and "def findings" not in done.stdout, done.stdout


def test_the_packaged_template_has_no_finding_but_its_stated_exceptions(
    scanned: dict[str, set[Finding]] | None,
) -> None:
    findings = _found(scanned)
    assert not findings["as_packaged"], "\n".join(
        f"{check} {resource}: fix it, or add it with a reason to infra/scan.py EXCEPTIONS"
        for check, resource in sorted(findings["as_packaged"])
    )


def test_every_exception_is_still_needed_and_has_a_reason(scanned: dict[str, set[Finding]] | None) -> None:
    findings = _found(scanned)
    needed = {check for check, _ in findings["without_exceptions"]}
    stale = sorted(set(scan.EXCEPTIONS) - needed)
    assert not stale, f"no resource fails {stale} any more: remove them from infra/scan.py EXCEPTIONS"
    assert all(len(why) > 30 for _, why in scan.EXCEPTIONS.values())


def test_exceptions_are_written_into_the_template_for_every_scanner(packaged: dict[str, Any]) -> None:
    for check, (kind, why) in scan.EXCEPTIONS.items():
        for logical, resource in packaged["Resources"].items():
            if resource["Type"] == kind:
                assert {"id": check, "comment": why} in resource["Metadata"]["checkov"]["skip"], logical


def test_a_template_that_drops_encryption_logging_tracing_or_limits_fails_with_the_check(
    scanned: dict[str, set[Finding]] | None,
) -> None:
    findings = _found(scanned)
    new = findings["broken"] - findings["without_exceptions"]
    missed = [
        f"{what}: expected {check} on {resource}"
        for (check, resource), what in BREAKS.items()
        if (check, resource) not in new
    ]
    assert not missed, "\n".join(missed)
