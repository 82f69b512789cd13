"""``make run``: the whole pipeline on the embedded local AWS, in the foreground.

Starts the local AWS (moto) with the outbox, provisions ``infra/``, starts the HTTP API through
``chalice local``, feeds the event handlers with the runner, loads demo data, and stops cleanly on
Ctrl-C. Tests, the demo and the benchmark start the same ``LocalStack`` on free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import requests

from patchcast_tools.local import issuer

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
SENDER = "alerts@patchcast.test"  # .test (RFC 6761): the one special-use domain a sender may have, locally


class StackError(RuntimeError):
    """The local stack could not start; the message says why in one line."""


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, what: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(
                f"{what} exited with status {proc.returncode} while starting; see its log under .local/logs/"
            )
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.2)
    raise StackError(f"{what} did not answer at {url} within {timeout:.0f} s")


def provider_env(env: dict[str, str] | os._Environ[str] = os.environ) -> dict[str, str]:
    """A stack that signs in through an OpenID provider instead of its own sign-in page (the browser suite's
    stand-in for Cognito, tests/e2e/browser/test_portal_provider.py): ``PATCHCAST_COGNITO_DOMAIN`` names it,
    and the issuer and JWKS the API checks tokens against are then the provider's, from the environment."""
    domain = env.get("PATCHCAST_COGNITO_DOMAIN", "")
    if not domain:
        return {}
    return {
        "PATCHCAST_COGNITO_DOMAIN": domain,
        "PATCHCAST_JWT_ISSUER": env.get("PATCHCAST_JWT_ISSUER") or domain,
        "PATCHCAST_JWKS_URL": env.get("PATCHCAST_JWKS_URL") or f"{domain}/.well-known/jwks.json",
    }


class LocalStack:
    def __init__(
        self,
        *,
        state_dir: Path,
        api_port: int,
        aws_port: int,
        outbox_port: int,
        concurrency: int = 4,
        extra_env: dict[str, str] | None = None,
        dynamodb_port: int | None = None,
    ) -> None:
        """``dynamodb_port``: serve DynamoDB from a second local AWS process (the benchmark's choice: in AWS
        DynamoDB and SES do not queue behind each other on one interpreter); by default one serves all."""
        self.state_dir = state_dir.resolve()
        self.api_port, self.aws_port, self.outbox_port = api_port, aws_port, outbox_port
        self.dynamodb_port = dynamodb_port
        self.concurrency = concurrency
        self.procs: list[subprocess.Popen[bytes]] = []
        self.runner: Any = None
        self._saved_env: dict[str, str | None] = {}
        self.extra_env = extra_env or {}

    @classmethod
    def on_free_ports(cls, state_dir: Path, *, dynamodb: bool = False, **options: Any) -> LocalStack:
        """A stack beside any other: its API, AWS and outbox (and with ``dynamodb`` a DynamoDB) on free ports."""
        return cls(
            state_dir=state_dir,
            api_port=free_port(),
            aws_port=free_port(),
            outbox_port=free_port(),
            dynamodb_port=free_port() if dynamodb else None,
            **options,
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def aws_url(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def outbox_url(self) -> str:
        return f"http://127.0.0.1:{self.outbox_port}"

    @property
    def outbox_dir(self) -> Path:
        return self.state_dir / "outbox"

    def env(self) -> dict[str, str]:
        jwks = issuer.ensure_keys(self.state_dir)
        return {
            "AWS_ENDPOINT_URL": self.aws_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "PATCHCAST_STAGE": "local",
            "PATCHCAST_SENDER": SENDER,
            "PATCHCAST_PUBLIC_URL": self.api_url,
            "PATCHCAST_JWT_ISSUER": issuer.ISSUER,
            "PATCHCAST_JWT_AUDIENCE": issuer.AUDIENCE,
            "PATCHCAST_JWKS_URL": jwks.resolve().as_uri(),
            **provider_env(),
            "PATCHCAST_STATE_DIR": str(self.state_dir),
            "PATCHCAST_API": self.api_url,
            "PATCHCAST_LOCAL_USERS": demo_users(),  # what the local sign-in page offers
            **({"AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{self.dynamodb_port}"} if self.dynamodb_port else {}),
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_NAMESPACE": "Patchcast",
            # INFO: the handlers' logs reach api.log and runner.log, as the banner says (tests and the bench
            # set WARNING in their own environment: logging costs CPU they measure)
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"),
            **self.extra_env,
        }

    def check_ports(self) -> None:
        for port, var in (
            (self.api_port, "PATCHCAST_API_PORT"),
            (self.aws_port, "PATCHCAST_AWS_PORT"),
            (self.outbox_port, "PATCHCAST_OUTBOX_PORT"),
            *([(self.dynamodb_port, "the benchmark's DynamoDB port")] if self.dynamodb_port else []),
        ):
            if not port_free(port):
                raise StackError(f"port {port} is already in use: stop what holds it, or set {var} to another port")

    def _spawn(self, args: list[str], log_name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out = open(logs / log_name, "wb")  # noqa: SIM115 - the child owns it for its whole life
        leashed = [sys.executable, "-m", "patchcast_tools.local.leash", str(os.getpid()), *args]  # dies with us
        proc = subprocess.Popen(
            leashed, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def start(self, *, seed: bool = True, api: bool = True, events: bool = True) -> None:
        """Everything ``make run`` needs; the benchmark leaves out the HTTP API and feeds events itself."""
        self.check_ports()
        env = self.env()
        self._saved_env = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the runner (this process) sees the same world as the API (until stop)
        py = sys.executable
        awsd = self._spawn(
            [
                py,
                "-m",
                "patchcast_tools.local.awsd",
                "--port",
                str(self.aws_port),
                "--outbox-port",
                str(self.outbox_port),
                "--outbox-dir",
                str(self.outbox_dir),
            ],
            "aws.log",
            env,
        )
        _wait(f"{self.aws_url}/moto-api/", "the local AWS", 30, awsd)
        if self.dynamodb_port:
            ddb = self._spawn(
                [py, "-m", "patchcast_tools.local.awsd", "--port", str(self.dynamodb_port), "--outbox-port", "0"],
                "aws-dynamodb.log",
                env,
            )
            _wait(f"http://127.0.0.1:{self.dynamodb_port}/moto-api/", "the local DynamoDB", 30, ddb)

        import boto3

        from patchcast_tools.local.provision import provision

        session = boto3.session.Session(region_name=REGION)
        provision("local", sender=SENDER, session=session)
        if seed:
            from patchcast_tools.local.seed import load_demo_data

            load_demo_data()
        if api:
            chalice = str(Path(py).with_name("chalice"))
            proc = self._spawn(
                [chalice, "local", "--stage", "local", "--port", str(self.api_port), "--no-autoreload"], "api.log", env
            )
            _wait(f"{self.api_url}/health", "the HTTP API (chalice local)", 60, proc)
        if not events:
            return

        from patchcast_tools.local.runner import Runner

        sys.path.insert(0, str(ROOT))
        import app as app_module

        self.runner = Runner(app_module.app, session, concurrency=self.concurrency)
        self.runner.start()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.close()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = {}

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


DEFAULT_PORTS = {"PATCHCAST_API_PORT": 8000, "PATCHCAST_AWS_PORT": 5000, "PATCHCAST_OUTBOX_PORT": 8025}


BANNER = """
Patchcast is running on the embedded local AWS.

  HTTP API      {api}          (GET {api}/health)
  local AWS     {aws}          (AWS_ENDPOINT_URL)
  portal        {api}/portal   (sign in as a demo user, or any account and address)
  outbox        {outbox}          and {outbox_dir}/*.eml
  logs          {logs}/  (api.log, runner.log: requests, EMF metrics, handler logs; aws.log)
{settings}
Demo data: products M3 and XA; accounts acme (elite), globex (premium), initech (xtreme),
each with one confirmed subscriber. Demo users of the portal's sign-in page:
{users}

In another shell, paste:
{paste}
Then open {outbox} for the notices, one per entitled subscriber.

Ctrl-C stops everything.
"""


def settings_lines(environ: Mapping[str, str] = os.environ) -> str:
    """Every setting of the environment that changes what the stack does (beyond the ports and the state folder,
    which the lines to paste show): a person must not be surprised by a PATCHCAST_DOWNLOAD_LINK_DAYS=0 left set."""
    shown = sorted(
        f"{k}={v}"
        for k, v in environ.items()
        if k.startswith(("PATCHCAST_", "POWERTOOLS_")) and k not in (*DEFAULT_PORTS, "PATCHCAST_STATE_DIR")
    )
    if not shown:
        return "  settings      all defaults\n"
    return "".join(
        f"  {'settings' if i == 0 else '':<13} {line}   (from your environment)\n" for i, line in enumerate(shown)
    )


def demo_users() -> str:
    """The demo users as ``account:email:tier``, comma-separated: PATCHCAST_LOCAL_USERS for the sign-in page."""
    from patchcast_tools.local.seed import ACCOUNTS, SUBSCRIBERS

    return ",".join(f"{a.account_id}:{SUBSCRIBERS[a.account_id]}:{a.tier}" for a in ACCOUNTS)


def users_lines() -> str:
    rows = [u.split(":") for u in demo_users().split(",")]
    return "".join(f"  {email:<24} account {account} ({tier})\n" for account, email, tier in rows)


def paste_lines(stack: LocalStack, root: Path = ROOT) -> str:
    """The lines another shell needs to drive this stack: the project's venv, what was moved from its default
    (ports, the state folder), a release and a token."""
    lines = [f"cd {root} && . .venv/bin/activate"]
    if stack.api_port != DEFAULT_PORTS["PATCHCAST_API_PORT"]:
        lines.append(f"export PATCHCAST_API_PORT={stack.api_port}")
    if stack.state_dir != (root / ".local").resolve():
        lines.append(f"export PATCHCAST_STATE_DIR={stack.state_dir}")
    lines += [
        "printf 'fix' > fix.zip",
        'patchctl release create --product M3 --version 13.4.1 --kind patch --severity 2 --title "Invoice rounding" '
        "--file fix.zip",
        "patchctl token --role customer --account acme --email ops@acme.example",
    ]
    return "".join(f"  {line}\n" for line in lines)


@contextlib.contextmanager
def quiet_terminal(logs: Path) -> Iterator[TextIO]:
    """What the runner prints in this process (EMF metrics, Powertools' JSON logs, the stack's own log lines)
    goes to ``logs/runner.log``; yields the terminal, for the banner and what a person must read."""
    logs.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout
    with open(logs / "runner.log", "w", buffering=1, encoding="utf-8") as log, contextlib.redirect_stdout(log):
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield terminal
        finally:
            root.removeHandler(handler)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the whole Patchcast pipeline locally.")
    parser.add_argument("--no-seed", action="store_true", help="start without demo data")
    args = parser.parse_args()
    logging.getLogger("botocore").setLevel(logging.WARNING)
    port = {var: int(os.environ.get(var) or default) for var, default in DEFAULT_PORTS.items()}
    stack = LocalStack(
        state_dir=Path(os.environ.get("PATCHCAST_STATE_DIR", ROOT / ".local")),
        api_port=port["PATCHCAST_API_PORT"],
        aws_port=port["PATCHCAST_AWS_PORT"],
        outbox_port=port["PATCHCAST_OUTBOX_PORT"],
    )
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    # Both, whatever this process inherited: a background job of a non-interactive shell starts with SIGINT
    # ignored, and Python then installs no KeyboardInterrupt of its own, so Ctrl-C (or a test's SIGINT) did nothing.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    settings = settings_lines()  # what the person set, before the stack adds its own world to the environment
    with quiet_terminal(stack.state_dir / "logs") as terminal:
        try:
            stack.start(seed=not args.no_seed)
            print(
                BANNER.format(
                    api=stack.api_url,
                    aws=stack.aws_url,
                    outbox=stack.outbox_url,
                    outbox_dir=stack.outbox_dir,
                    logs=stack.state_dir / "logs",
                    paste=paste_lines(stack),
                    settings=settings,
                    users=users_lines(),
                ),
                file=terminal,
                flush=True,
            )
            while True:
                time.sleep(3600)
        except StackError as err:
            print(f"make run: {err}", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:
            print("\nstopping…", file=terminal, flush=True)
        finally:
            stack.stop()  # whatever happened, no moto or chalice process outlives us
    print("stopped.")


if __name__ == "__main__":
    main()
