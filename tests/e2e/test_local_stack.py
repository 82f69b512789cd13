"""End to end through the local stack over HTTP, the CLI and the outbox (one release delivered)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from patchcast_tools.demo import run_scenario
from patchcast_tools.local.stack import LocalStack
from patchcast_tools.outbox import Outbox
from tests.e2e.conftest import patchctl

pytestmark = pytest.mark.e2e


def test_health_answers_within_60_seconds(stack: LocalStack) -> None:
    assert stack.started_in < 60  # type: ignore[attr-defined]
    assert requests.get(f"{stack.api_url}/health", timeout=5).json() == {"status": "ok"}


@pytest.fixture(scope="module")
def delivered(stack: LocalStack) -> dict[str, Any]:
    """The demo's release, delivered once for the module's tests that read what it left (in any order)."""
    return dict(run_scenario(stack, say=lambda _line: None))


def test_one_release_end_to_end(stack: LocalStack, delivered: dict[str, Any]) -> None:
    # GIVEN the demo data; WHEN an admin, a customer and a release engineer do their part
    result = delivered
    # THEN every entitled subscriber got exactly one notice, and only they
    outbox = Outbox(stack.outbox_dir)
    # (the subscribers' notices: the Elite CSM's copy follows ~30 s later, so a test run later in the module sees it)
    notices = [
        m for m in outbox.messages() if "13.5.0" in str(m["Subject"]) and not str(m["Subject"]).startswith("[CSM]")
    ]
    assert sorted(str(m["To"]) for m in notices) == sorted(result["notified"])
    assert len(notices) == len(set(result["notified"])) == 4
    # AND the outbox is listed over HTTP as well
    listing = requests.get(stack.outbox_url, headers={"Accept": "application/json"}, timeout=5).json()
    assert {i["subject"] for i in listing} >= {str(m["Subject"]) for m in notices}


def test_the_terminal_shows_the_banner_and_no_metrics_which_go_to_the_logs(
    stack: LocalStack, delivered: dict[str, Any]
) -> None:
    # GIVEN the demo's release was delivered (the runner counted its emails in EMF)
    terminal = (stack.state_dir / "stack.log").read_text()
    runner_log = (stack.state_dir / "logs" / "runner.log").read_text()
    # THEN the terminal has the banner with the lines to paste for the moved port, and no metric or JSON log
    assert f"export PATCHCAST_API_PORT={stack.api_port}" in terminal and "patchctl token --role" in terminal
    assert f"{stack.api_url}/portal" in terminal and "ops@acme.example         account acme (elite)" in terminal
    assert '"_aws"' not in terminal and '"level"' not in terminal, terminal[-2000:]
    assert '"_aws"' in runner_log and "EmailsSent" in runner_log


def test_the_outbox_page_renders_a_notice_with_its_download_link_clickable(
    stack: LocalStack, delivered: dict[str, Any]
) -> None:
    listing = requests.get(stack.outbox_url, headers={"Accept": "application/json"}, timeout=5).json()
    notice = next(i for i in listing if str(i["subject"]).startswith("[Sev"))
    page = requests.get(f"{stack.outbox_url}/messages/{notice['n']}", timeout=5).text
    assert f"href='{stack.api_url}/d/" in page and f"src='/messages/{notice['n']}/html'" in page
    index = requests.get(stack.outbox_url, timeout=5).text
    assert f"href='/messages/{notice['n']}.eml'" in index


def test_patchctl_finds_a_moved_api_and_the_stack_from_a_folder_below_it(stack: LocalStack, tmp_path: Path) -> None:
    # GIVEN a checkout whose .local/ is the running stack's, the API's port moved, and a shell deep inside it
    (tmp_path / ".local").symlink_to(stack.state_dir)
    deep = tmp_path / "docs" / "notes"
    deep.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHCAST_")}
    env["PATCHCAST_API_PORT"] = str(stack.api_port)
    # WHEN patchctl runs there with no --api and no state folder named
    listed = subprocess.run(
        [patchctl(), "accounts", "list"], cwd=deep, env=env, capture_output=True, text=True, timeout=60
    )
    minted = subprocess.run(
        [patchctl(), "token", "--role", "customer", "--account", "acme"],
        cwd=deep,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # THEN it reaches the moved API with a token from the stack's own issuer
    assert listed.returncode == 0, listed.stderr
    assert any(line.startswith("acme ") and "elite" in line for line in listed.stdout.splitlines()), listed.stdout
    assert minted.returncode == 0, minted.stderr
    resp = requests.get(
        f"{stack.api_url}/entitlements", headers={"Authorization": f"Bearer {minted.stdout.strip()}"}, timeout=5
    )
    assert resp.status_code == 200
    assert list(deep.rglob("*")) == []  # nothing written where it ran


def test_patchctl_errors_are_one_line_and_exit_nonzero(stack: LocalStack, tmp_path: os.PathLike[str]) -> None:
    env = {**os.environ, "PATCHCAST_STATE_DIR": str(stack.state_dir)}
    package = os.path.join(tmp_path, "x.zip")
    with open(package, "wb") as f:
        f.write(b"x")
    args = [
        patchctl(),
        "release",
        "create",
        "--api",
        stack.api_url,
        "--product",
        "NOPE",
        "--version",
        "1",
        "--kind",
        "patch",
        "--severity",
        "2",
        "--title",
        "t",
        "--file",
        package,
    ]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "unknown_product" in done.stderr and "NOPE" in done.stderr
    assert "Traceback" not in done.stderr


def test_patchctl_token_mints_a_token_the_api_accepts(stack: LocalStack) -> None:
    env = {**os.environ, "PATCHCAST_STATE_DIR": str(stack.state_dir)}
    done = subprocess.run(
        [patchctl(), "token", "--role", "customer", "--account", "acme", "--email", "ops@acme.example"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    resp = requests.get(
        f"{stack.api_url}/accounts/acme", headers={"Authorization": f"Bearer {done.stdout.strip()}"}, timeout=5
    )
    assert resp.status_code == 200 and resp.json()["tier"] == "elite"


def test_a_port_already_taken_is_one_line_naming_the_variable(stack: LocalStack, tmp_path: os.PathLike[str]) -> None:
    import sys

    env = {**os.environ, "PATCHCAST_STATE_DIR": str(tmp_path), "PATCHCAST_API_PORT": str(stack.api_port)}
    done = subprocess.run(
        [sys.executable, "-m", "patchcast_tools.local.stack"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert f"port {stack.api_port} is already in use" in done.stderr and "PATCHCAST_API_PORT" in done.stderr


def _start_bare_stack(
    tmp_path: os.PathLike[str], log: Any, **popen: Any
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """``make run --no-seed`` on free ports, waited for until /health answers (or 120 s)."""
    import sys
    import time

    from patchcast_tools.local.stack import free_port

    ports = {"PATCHCAST_API_PORT": free_port(), "PATCHCAST_AWS_PORT": free_port(), "PATCHCAST_OUTBOX_PORT": free_port()}
    env = {**os.environ, "PATCHCAST_STATE_DIR": str(tmp_path), **{k: str(v) for k, v in ports.items()}}
    proc = subprocess.Popen(
        [sys.executable, "-m", "patchcast_tools.local.stack", "--no-seed"],
        env=env,
        stdout=log,  # a file, not a pipe: a chatty child must never block on a full pipe
        stderr=subprocess.STDOUT,
        **popen,
    )
    deadline = time.monotonic() + 120  # generous: the suite may share two cores with other work
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"http://127.0.0.1:{ports['PATCHCAST_API_PORT']}/health", timeout=1).status_code == 200:
                time.sleep(0.5)  # let the runner start after /health, so the signal lands on a running stack
                return proc, ports
        except requests.RequestException:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("the stack did not answer /health within 120 s")


def _children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_stops_everything_and_frees_the_ports_even_when_started_with_sigint_ignored(
    tmp_path: os.PathLike[str],
) -> None:
    # GIVEN the stack started as a background job of a script would be: SIGINT ignored (inherited by exec)
    import signal

    from patchcast_tools.local.stack import port_free

    log_path = os.path.join(tmp_path, "stack.log")
    with open(log_path, "wb") as log:
        proc, ports = _start_bare_stack(tmp_path, log, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        # WHEN it gets Ctrl-C
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    # THEN it stops cleanly, and its ports are free
    out = Path(log_path).read_bytes()
    assert proc.returncode == 0, out.decode()
    assert b"stopped." in out
    assert all(port_free(p) for p in ports.values())


def test_a_killed_stack_leaves_no_child_running(tmp_path: os.PathLike[str]) -> None:
    # GIVEN a running stack and its children (the local AWS, chalice local)
    import signal
    import time

    from patchcast_tools.local.stack import port_free

    with open(os.path.join(tmp_path, "stack.log"), "wb") as log:
        proc, ports = _start_bare_stack(tmp_path, log)
        children = _children_of(proc.pid)
        assert len(children) >= 2
        # WHEN it is killed outright: no handler of its own runs
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # THEN every child notices and stops, freeing the ports
    deadline = time.monotonic() + 90  # a graceful stop under a loaded suite's two cores can take a while
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = {c: Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ")[:120] for c in children if _alive(c)}
    for c in left:  # never leave one behind, even when this test fails
        with contextlib.suppress(ProcessLookupError):
            os.kill(c, signal.SIGKILL)
    assert left == {}
    assert all(port_free(p) for p in ports.values())
