"""What every ``patchctl`` command shares: the API client, credentials, one-line errors, output."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import requests

DEFAULT_API = "http://127.0.0.1:8000"


class CliError(Exception):
    """A failure to report as one line, with exit status 1."""


class ApiError(CliError):
    """The API answered with an error status."""

    def __init__(self, message: str, status: int, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body if isinstance(body, dict) else {}  # the API's {"error", "message", ...}


def api_url(env: Mapping[str, str] = os.environ) -> str:
    """Where the API is when ``--api`` is not given: ``PATCHCAST_API``, else the local stack's
    ``PATCHCAST_API_PORT`` on 127.0.0.1 (what ``make run`` is moved by), else the default port."""
    if env.get("PATCHCAST_API"):
        return env["PATCHCAST_API"]
    port = env.get("PATCHCAST_API_PORT")
    return f"http://127.0.0.1:{port}" if port else DEFAULT_API


# The checkout patchctl is installed from (editable, as ``make`` installs it): its .local/ is the stack's.
_PROJECT = Path(__file__).resolve().parents[2]


def _candidates(env: Mapping[str, str], cwd: Path) -> list[Path]:
    if env.get("PATCHCAST_STATE_DIR"):
        return [Path(env["PATCHCAST_STATE_DIR"])]
    found = [folder / ".local" for folder in (cwd, *cwd.parents)]
    return [*found, _PROJECT / ".local"] if (_PROJECT / "app.py").is_file() else found


def local_state(env: Mapping[str, str] = os.environ, cwd: Path | None = None) -> Path | None:
    """The local stack's state folder (issuer key, upload state): ``PATCHCAST_STATE_DIR``, else the
    first ``.local/`` holding an issuer key from the current folder up, else the project's own."""
    for folder in _candidates(env, cwd or Path.cwd()):
        if (folder / "issuer" / "private.pem").is_file():
            return folder
    return None


def require_local_state(env: Mapping[str, str] = os.environ, cwd: Path | None = None) -> Path:
    """``local_state()``, or a one-line refusal saying where it looked and how to point patchctl there."""
    found = local_state(env, cwd)
    if found is None:
        raise CliError(no_local_stack(env, cwd))
    return found


def no_local_stack(env: Mapping[str, str] = os.environ, cwd: Path | None = None) -> str:
    if env.get("PATCHCAST_STATE_DIR"):
        where = f"PATCHCAST_STATE_DIR={env['PATCHCAST_STATE_DIR']} holds no issuer/private.pem"
    else:
        where = f"no .local/issuer/private.pem in {cwd or Path.cwd()} or its parents, nor in {_PROJECT}"
    return (
        f"no local stack found ({where}): start it with `make run`, or set PATCHCAST_STATE_DIR to the folder "
        "`make run` printed"
    )


def state_dir() -> Path:
    """Where patchctl keeps its own state (resumable uploads): the local stack's, else ./.local (AWS)."""
    return local_state() or Path(os.environ.get("PATCHCAST_STATE_DIR") or Path.cwd() / ".local")


class Credentials:
    """The bearer token ``patchctl`` sends, and how it gets a fresh one when the API answers 401.

    ID tokens last an hour (Cognito's app client, and the local issuer alike): an upload can outlast one.
    ``PATCHCAST_REFRESH_TOKEN`` with ``PATCHCAST_CLIENT_ID`` renews through Cognito's REFRESH_TOKEN_AUTH
    (refresh tokens last 30 days); against the local stack a new token is minted from the local issuer.
    ``PATCHCAST_TOKEN`` alone works until it expires.
    """

    def __init__(self, role: str, env: Mapping[str, str] = os.environ) -> None:
        self._token = env.get("PATCHCAST_TOKEN") or None
        self._renew: Callable[[], str] | None = None
        refresh, client_id = env.get("PATCHCAST_REFRESH_TOKEN"), env.get("PATCHCAST_CLIENT_ID")
        if refresh and client_id:
            self._renew = lambda: _cognito_refresh(client_id, refresh)
        elif self._token is None and (folder := local_state(env)) is not None:
            from patchcast_tools.local import issuer

            self._renew = lambda: issuer.mint(folder, role=role, email=f"{role}@patchcast.local")

    def token(self) -> str:
        if self._token is None:
            if self._renew is None:
                raise CliError(f"no credentials: set PATCHCAST_TOKEN to a bearer token; {no_local_stack()}")
            self._token = self._renew()
        return self._token

    def renew(self) -> str:
        if self._renew is None:
            raise CliError(
                "the token was refused (expired?): set PATCHCAST_REFRESH_TOKEN and PATCHCAST_CLIENT_ID so that "
                "patchctl can renew it (docs/deploy.md, Users and tokens)"
            )
        self._token = self._renew()
        return self._token


def _cognito_refresh(client_id: str, refresh_token: str) -> str:
    # boto3 loads only when a token is renewed (about once an hour), not on every command.
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        result = boto3.client("cognito-idp").initiate_auth(
            AuthFlow="REFRESH_TOKEN_AUTH", ClientId=client_id, AuthParameters={"REFRESH_TOKEN": refresh_token}
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise CliError(f"Cognito refused to renew the token ({code}): sign in again for a new refresh token") from exc
    except BotoCoreError as exc:
        raise CliError(f"cannot renew the token through Cognito: {exc}") from exc
    return str(result["AuthenticationResult"]["IdToken"])


class Api:
    def __init__(self, base: str, role: str, credentials: Credentials | None = None) -> None:
        self.base = base.rstrip("/")
        self.role = role
        self.http = requests.Session()
        self.credentials = credentials or Credentials(role)

    def call(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200, 201, 202)) -> Any:
        resp = self._send(method, path, body, self.credentials.token())
        if resp.status_code == 401:
            # The token expired during a long upload: once with a fresh one (a second 401 is a real refusal).
            # Without a way to renew, renew() says how to give patchctl one.
            resp = self._send(method, path, body, self.credentials.renew())
        if resp.status_code not in ok:
            where = (
                f" (from {self.base}: is the token for this stack? set PATCHCAST_TOKEN or --api)"
                if resp.status_code == 401
                else ""
            )
            raise ApiError(_describe(resp) + where, resp.status_code, _json_or_none(resp))
        return resp.json() if resp.content else {}

    def items(self, path: str) -> Iterator[Any]:
        """Every item of a list route, page after page (``{"items", "next"}``)."""
        cursor: str | None = None
        while True:
            query = f"?cursor={requests.utils.quote(cursor, safe='')}" if cursor else ""
            page = self.call("GET", path + query)
            yield from page["items"]
            cursor = page.get("next")
            if not cursor:
                return

    def _send(self, method: str, path: str, body: Any, token: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            return self.http.request(method, self.base + path, json=body, headers=headers, timeout=30)
        except requests.RequestException as exc:
            raise CliError(
                f"cannot reach the Patchcast API at {self.base} ({exc.__class__.__name__}): start the local stack with "
                "`make run`, or point patchctl at a running API with --api URL or PATCHCAST_API"
            ) from exc


def _json_or_none(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _describe(resp: requests.Response) -> str:
    try:
        body = resp.json()
        return f"{body.get('error', 'error')} ({resp.status_code}): {body.get('message', resp.text)}"
    except ValueError:
        return f"HTTP {resp.status_code}: {resp.text[:200]}"


WIDTH = 100  # what a table of patchctl's may take: a terminal's, a CI log's


def table(head: tuple[str, ...], rows: list[list[str]]) -> str:
    """Rows under a header, each column as wide as its widest cell, a line cut to ``WIDTH`` (``--json`` has all)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [list(head), *rows]]
    return "\n".join(line if len(line) <= WIDTH else line[: WIDTH - 1] + "…" for line in lines)


def emit(args: argparse.Namespace, value: Any, human: str) -> None:
    print(json.dumps(value, indent=2) if args.json else human)


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--api",
        default=api_url(),
        help="Patchcast API base URL (default: PATCHCAST_API, else http://127.0.0.1:$PATCHCAST_API_PORT, "
        f"else {DEFAULT_API}; now %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
