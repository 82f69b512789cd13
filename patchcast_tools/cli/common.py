"""What every ``patchctl`` command shares: the API client, credentials, one-line errors, output."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import requests

DEFAULT_API = "http://127.0.0.1:8000"


class CliError(Exception):
    """A failure to report as one line, with exit status 1."""


def state_dir() -> Path:
    return Path(os.environ.get("PATCHCAST_STATE_DIR", Path.cwd() / ".local"))


def _token(role: str) -> str:
    token = os.environ.get("PATCHCAST_TOKEN")
    if token:
        return token
    if (state_dir() / "issuer" / "private.pem").exists():
        from patchcast_tools.local import issuer

        return issuer.mint(state_dir(), role=role, email=f"{role}@patchcast.local", hours=1)
    raise CliError("no credentials: set PATCHCAST_TOKEN to a bearer token (or run against the local stack)")


class Api:
    def __init__(self, base: str, role: str) -> None:
        self.base = base.rstrip("/")
        self.role = role
        self.http = requests.Session()

    def call(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200, 201, 202)) -> Any:
        headers = {"Authorization": f"Bearer {_token(self.role)}", "Accept": "application/json"}
        try:
            resp = self.http.request(method, self.base + path, json=body, headers=headers, timeout=30)
        except requests.RequestException as exc:
            raise CliError(f"cannot reach the Patchcast API at {self.base}: {exc.__class__.__name__}") from exc
        if resp.status_code not in ok:
            raise CliError(_describe(resp))
        return resp.json() if resp.content else {}


def _describe(resp: requests.Response) -> str:
    try:
        body = resp.json()
        return f"{body.get('error', 'error')} ({resp.status_code}): {body.get('message', resp.text)}"
    except ValueError:
        return f"HTTP {resp.status_code}: {resp.text[:200]}"


def emit(args: argparse.Namespace, value: Any, human: str) -> None:
    print(json.dumps(value, indent=2) if args.json else human)


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", default=os.environ.get("PATCHCAST_API", DEFAULT_API), help="Patchcast API base URL")
    p.add_argument("--json", action="store_true", help="print JSON")
