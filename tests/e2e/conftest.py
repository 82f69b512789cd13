"""The whole local stack as ``make run`` starts it, in a subprocess on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from patchcast_tools.local.stack import ROOT, LocalStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp("stack")
    handle = LocalStack.on_free_ports(state)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PATCHCAST_"))
    }  # the subprocess builds its own world, like `make run` on a fresh shell
    env.update(
        PATCHCAST_STATE_DIR=str(state),
        PATCHCAST_API_PORT=str(handle.api_port),
        PATCHCAST_AWS_PORT=str(handle.aws_port),
        PATCHCAST_OUTBOX_PORT=str(handle.outbox_port),
    )
    env.update(getattr(request.module, "STACK_ENV", {}))  # a test module may tune the stack (e.g. thresholds)
    log = open(state / "stack.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "patchcast_tools.local.stack"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    started = time.monotonic()
    try:
        while True:
            try:
                if requests.get(f"{handle.api_url}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, (state / "stack.log").read_text()
            assert time.monotonic() - started < 60, "GET /health did not answer 200 within 60 s"
            time.sleep(0.3)
        handle.started_in = time.monotonic() - started  # type: ignore[attr-defined]
        yield handle
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            handle.exit_code = proc.wait(timeout=30)  # type: ignore[attr-defined]
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            log.close()
        _every_outbox_message_is_fit_for_ses(handle.outbox_dir)


def _every_outbox_message_is_fit_for_ses(outbox: Path) -> None:
    """The stack's SES refuses what SES refuses; this checks, belt and braces, what it accepted."""
    from patchcast_tools.local.strict_ses import audit

    problems = [f"{path.name}: {p}" for path in sorted(outbox.glob("*.eml")) for p in audit(path.read_bytes())]
    assert not problems, "\n".join(problems)


def patchctl() -> str:
    return str(Path(sys.executable).with_name("patchctl"))
