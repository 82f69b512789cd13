"""Release publishing end to end: every kind through ``patchctl`` (one above the lowered multipart threshold,
one scheduled a few seconds ahead), a rejected upload notifying nobody, a yanked release answering 410, a
draft listed, edited, previewed, published and reported on (the report page included)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from patchcast_tools.local import issuer
from patchcast_tools.local.stack import LocalStack
from patchcast_tools.outbox import Outbox, link
from tests.e2e.conftest import patchctl

pytestmark = pytest.mark.e2e
MiB = 1024 * 1024
STACK_ENV = {"PATCHCAST_MULTIPART_THRESHOLD": str(MiB), "PATCHCAST_MULTIPART_PART_SIZE": str(5 * MiB)}
SEEDED = sorted(["ops@acme.example", "it@globex.example", "admin@initech.example"])


def _cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATCHCAST_STATE_DIR": str(stack.state_dir)}
    return subprocess.run(
        [patchctl(), *args, "--api", stack.api_url, "--json"], env=env, capture_output=True, text=True, timeout=120
    )


def _create(stack: LocalStack, kind: str, version: str, *extra: str) -> dict[str, Any]:
    done = _cli(
        stack,
        "release",
        "create",
        "--product",
        "M3",
        "--version",
        version,
        "--kind",
        kind,
        "--severity",
        "2",
        "--title",
        f"M3 {kind} {version}",
        "--summary",
        "Fixes things.",
        *extra,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return dict(json.loads(done.stdout))


def _notified(outbox: Outbox, version: str, prefix: str = "[Sev 2]") -> list[str]:
    found = outbox.wait_for(
        lambda m: str(m["Subject"]).startswith(prefix) and f" {version})" in str(m["Subject"]),
        count=len(SEEDED),
        timeout=30,
    )
    return sorted(str(m["To"]) for m in found)


def test_every_kind_goes_out_through_patchctl_large_and_scheduled_included(stack: LocalStack, tmp_path: Path) -> None:
    outbox, tag = Outbox(stack.outbox_dir), uuid.uuid4().hex[:6]
    small = tmp_path / "fix.zip"
    small.write_bytes(os.urandom(64 * 1024))
    large = tmp_path / "sp.zip"
    large.write_bytes(os.urandom(6 * MiB))  # above the lowered threshold: two parts
    at = (datetime.now(UTC) + timedelta(seconds=5)).isoformat(timespec="seconds").replace("+00:00", "Z")
    created = {
        "feature-pack": _create(stack, "feature-pack", f"3.{tag}", "--file", str(small), "--notify-at", at),
        "patch": _create(stack, "patch", f"1.{tag}", "--file", str(small)),
        "service-pack": _create(stack, "service-pack", f"2.{tag}", "--file", str(large)),
        "update": _create(stack, "update", f"4.{tag}", "--file", str(small)),
        "critical-solution": _create(stack, "critical-solution", f"5.{tag}", "--article-url", "https://kb.example/5"),
    }
    assert created["service-pack"]["part_size"] == 5 * MiB
    assert created["feature-pack"]["status"] == "scheduled"
    for kind, release in created.items():
        assert _notified(outbox, release["version"]) == SEEDED, kind
    scheduled = _cli(stack, "release", "status", created["feature-pack"]["id"])
    assert json.loads(scheduled.stdout)["published_at"] >= at


def test_a_rejected_upload_notifies_nobody(stack: LocalStack) -> None:
    api, version = stack.api_url, f"9.{uuid.uuid4().hex[:6]}"
    bearer = {"Authorization": f"Bearer {issuer.mint(stack.state_dir, role='release-engineer')}"}
    declared = b"the declared bytes"
    body = {
        "product": "M3",
        "version": version,
        "kind": "patch",
        "severity": 2,
        "title": "Bad upload",
        "filename": "bad.zip",
        "size": len(declared),
        "sha256": "0" * 64,
    }
    release = requests.post(f"{api}/releases", json=body, headers=bearer, timeout=10).json()
    up = release["upload"]
    assert requests.post(up["url"], data=up["fields"], files={"file": ("bad.zip", declared)}, timeout=10).ok
    deadline = time.monotonic() + 20
    while (got := requests.get(f"{api}/releases/{release['id']}", headers=bearer, timeout=5).json())["status"] == (
        "awaiting-upload"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert got["status"] == "rejected" and "SHA-256" in got["reason"]
    time.sleep(1.5)  # any notice would have been queued by now
    assert [m for m in Outbox(stack.outbox_dir).messages() if version in str(m["Subject"])] == []


def test_a_yanked_release_answers_410_and_recalls_its_notice(stack: LocalStack, tmp_path: Path) -> None:
    outbox, version = Outbox(stack.outbox_dir), f"7.{uuid.uuid4().hex[:6]}"
    package = tmp_path / "yank.zip"
    package.write_bytes(b"to be withdrawn")
    release = _create(stack, "patch", version, "--file", str(package))
    notices = outbox.wait_for(lambda m: f" {version})" in str(m["Subject"]), count=len(SEEDED))
    download = link(notices[0], "/d/")
    done = _cli(stack, "release", "yank", release["id"], "--reason", "it corrupts ledgers")
    assert done.returncode == 0, done.stderr
    resp = requests.get(download, headers={"Accept": "application/json"}, allow_redirects=False, timeout=10)
    assert resp.status_code == 410 and "it corrupts ledgers" in resp.json()["message"]
    assert _notified(outbox, version, prefix="[RECALL]") == SEEDED
    report = json.loads(_cli(stack, "release", "report", release["id"]).stdout)
    assert report["totals"]["notified"] == len(SEEDED) and report["totals"]["recalled"] == len(SEEDED)


def test_yanking_an_unknown_release_is_one_line_and_exit_1(stack: LocalStack) -> None:
    done = _cli(stack, "release", "yank", "no-such-release", "--reason", "x")
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "not_found" in done.stderr


def test_a_release_is_found_fixed_previewed_and_watched_through_patchctl(stack: LocalStack) -> None:
    outbox, version = Outbox(stack.outbox_dir), f"8.{uuid.uuid4().hex[:6]}"
    # GIVEN a draft with a typo in its title
    release = _create(stack, "critical-solution", version, "--article-url", "https://kb.example/8", "--draft")
    # WHEN it is found again by listing, its title fixed and its audience previewed
    listed = json.loads(_cli(stack, "release", "list", "--product", "M3", "--status", "draft").stdout)
    assert release["id"] in [r["id"] for r in listed["items"]]
    edited = _cli(stack, "release", "edit", release["id"], "--title", "M3 fixed title")
    assert edited.returncode == 0, edited.stderr
    assert json.loads(edited.stdout)["title"] == "M3 fixed title"
    preview = json.loads(_cli(stack, "release", "preview", release["id"]).stdout)
    assert preview["totals"]["subscribers"] == len(SEEDED) and preview["complete"] is True
    # AND published: everyone the preview counted is notified, under the fixed title
    assert _cli(stack, "release", "publish", release["id"]).returncode == 0
    notices = outbox.wait_for(lambda m: f" {version})" in str(m["Subject"]), count=len(SEEDED))
    assert all("M3 fixed title" in str(m["Subject"]) for m in notices)
    # THEN it can no longer be edited (exit 1, one line)
    late = _cli(stack, "release", "edit", release["id"], "--title", "too late")
    assert late.returncode == 1 and "not_editable" in late.stderr
    # AND the report page, with the same token, draws the delivery per tier
    bearer = {"Authorization": f"Bearer {issuer.mint(stack.state_dir, role='release-engineer')}"}
    page = requests.get(f"{stack.api_url}/releases/{release['id']}/report.html", headers=bearer, timeout=10)
    assert page.status_code == 200 and "<svg" in page.text and "<script" not in page.text
    report = json.loads(_cli(stack, "release", "report", release["id"]).stdout)
    assert report["totals"]["notified"] == len(SEEDED) and report["totals"]["time_to_notice_s"]["p50"] is not None
