"""``patchctl``: the release engineers' and support admins' command line for Patchcast.

Every command takes ``--api URL`` and ``--json``; the exit status is 0 only on success and errors
are one clear line on stderr. Credentials: ``PATCHCAST_TOKEN`` (a bearer JWT), or in the local
stage a token minted from the local issuer for the command's role.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import requests

DEFAULT_API = "http://127.0.0.1:8000"
ROLE_FOR = {"release": "release-engineer", "accounts": "support-admin"}
CSV_COLUMNS = (
    "account_id",
    "name",
    "tier",
    "products",
    "support_start",
    "support_end",
    "timezone",
    "csm_email",
    "oncall_email",
)


class CliError(Exception):
    """A failure to report as one line, with exit status 1."""


def _state_dir() -> Path:
    return Path(os.environ.get("PATCHCAST_STATE_DIR", Path.cwd() / ".local"))


def _token(role: str) -> str:
    token = os.environ.get("PATCHCAST_TOKEN")
    if token:
        return token
    if (_state_dir() / "issuer" / "private.pem").exists():
        from patchcast_tools.local import issuer

        return issuer.mint(_state_dir(), role=role, email=f"{role}@patchcast.local", hours=1)
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


def _emit(args: argparse.Namespace, value: Any, human: str) -> None:
    print(json.dumps(value, indent=2) if args.json else human)


# -- token -----------------------------------------------------------------------------------------
def cmd_token(args: argparse.Namespace) -> None:
    from patchcast_tools.local import issuer

    try:
        token = issuer.mint(_state_dir(), role=args.role, account=args.account, email=args.email)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    _emit(args, {"token": token}, token)


# -- accounts --------------------------------------------------------------------------------------
def _row_body(row: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": row.get("name", ""),
        "tier": row.get("tier", ""),
        "products": [p for p in (row.get("products") or "").replace(";", " ").split() if p],
        "support_start": row.get("support_start", ""),
        "support_end": row.get("support_end", ""),
    }
    for optional in ("timezone", "csm_email", "oncall_email"):
        if row.get(optional):
            body[optional] = row[optional]
    return body


def cmd_accounts_import(args: argparse.Namespace) -> None:
    api = Api(args.api, "support-admin")
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    reader = csv.DictReader(text.splitlines())
    missing = [
        c
        for c in ("account_id", "name", "tier", "products", "support_start", "support_end")
        if c not in (reader.fieldnames or [])
    ]
    if missing:
        raise CliError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    report: dict[str, list[dict[str, Any]]] = {"accepted": [], "rejected": []}
    for line, row in enumerate(reader, start=2):
        extra = sorted(k for k in row if k not in CSV_COLUMNS)
        if extra or None in row:
            report["rejected"].append({"line": line, "error": f"unknown column(s) {', '.join(map(str, extra))}"})
            continue
        account_id = (row.get("account_id") or "").strip()
        try:
            got = api.call("PUT", f"/accounts/{requests.utils.quote(account_id, safe='')}", _row_body(row))
        except CliError as exc:
            report["rejected"].append({"line": line, "account_id": account_id, "error": str(exc)})
            continue
        report["accepted"].append({"line": line, "account_id": account_id, "changed": got.get("changed", True)})
    lines = [
        f"line {a['line']}: {a['account_id']} {'updated' if a['changed'] else 'unchanged'}" for a in report["accepted"]
    ]
    lines += [f"line {r['line']}: rejected: {r['error']}" for r in report["rejected"]]
    lines.append(f"{len(report['accepted'])} accepted, {len(report['rejected'])} rejected")
    _emit(args, report, "\n".join(lines))
    if report["rejected"]:
        sys.exit(1)


# -- releases --------------------------------------------------------------------------------------
def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _upload(upload: dict[str, Any], path: Path) -> None:
    with path.open("rb") as f:
        resp = requests.post(upload["url"], data=upload["fields"], files={"file": (path.name, f)}, timeout=600)
    if resp.status_code not in (200, 201, 204):
        raise CliError(f"upload of {path.name} failed: HTTP {resp.status_code}: {resp.text[:200]}")


def cmd_release_create(args: argparse.Namespace) -> None:
    api = Api(args.api, "release-engineer")
    body: dict[str, Any] = {
        "product": args.product,
        "version": args.version,
        "kind": args.kind,
        "severity": args.severity,
        "channel": args.channel,
        "title": args.title,
        "summary": args.summary or "",
        "draft": args.draft,
    }
    if not body["summary"]:
        body.pop("summary")
    path: Path | None = None
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise CliError(f"--file: {path} is not a readable file")
        body["filename"] = path.name
        body["size"], body["sha256"] = _hash_file(path)
    if args.article_url:
        body["article_url"] = args.article_url
    if args.notify_at:
        body["notify_at"] = args.notify_at
    release = api.call("POST", "/releases", body)
    if path is not None and release.get("upload"):
        _upload(release["upload"], path)
        release.pop("upload")
    if args.wait and path is not None:
        release = _wait_for(api, release["id"], args.wait)
    _emit(args, release, release["id"])


def _wait_for(api: Api, release_id: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        release = api.call("GET", f"/releases/{release_id}")
        if release["status"] != "awaiting-upload":
            if release["status"] == "rejected":
                raise CliError(f"release {release_id} was rejected: {release.get('reason')}")
            return release
        if time.monotonic() > deadline:
            raise CliError(f"release {release_id} is still awaiting its upload after {seconds:.0f} s")
        time.sleep(0.3)


def cmd_release_status(args: argparse.Namespace) -> None:
    release = Api(args.api, "release-engineer").call("GET", f"/releases/{args.id}")
    _emit(
        args,
        release,
        f"{release['id']} {release['status']} {release['product']} {release['kind']} {release['version']}",
    )


def cmd_release_publish(args: argparse.Namespace) -> None:
    release = Api(args.api, "release-engineer").call("POST", f"/releases/{args.id}/publish", {})
    _emit(args, release, f"{release['id']} {release['status']}")


# -- parser ----------------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", default=os.environ.get("PATCHCAST_API", DEFAULT_API), help="Patchcast API base URL")
    p.add_argument("--json", action="store_true", help="print JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patchctl", description="Publish releases and manage contracts in Patchcast.")
    sub = parser.add_subparsers(dest="command", required=True)

    token = sub.add_parser("token", help="local stage only: print a bearer token from the local issuer")
    _common(token)
    token.add_argument("--role", required=True, choices=["customer", "release-engineer", "support-admin"])
    token.add_argument("--account")
    token.add_argument("--email")
    token.set_defaults(func=cmd_token)

    accounts = sub.add_parser("accounts", help="support contracts").add_subparsers(dest="action", required=True)
    imp = accounts.add_parser("import", help="upsert contracts from a CSV file")
    _common(imp)
    imp.add_argument("file")
    imp.set_defaults(func=cmd_accounts_import)

    release = sub.add_parser("release", help="releases").add_subparsers(dest="action", required=True)
    create = release.add_parser("create", help="create a release and upload its file")
    _common(create)
    create.add_argument("--product", required=True)
    create.add_argument("--version", required=True)
    create.add_argument(
        "--kind", required=True, choices=["patch", "service-pack", "feature-pack", "update", "critical-solution"]
    )
    create.add_argument("--severity", required=True, type=int, choices=[1, 2, 3, 4])
    create.add_argument("--channel", default="ga", choices=["ga", "beta"])
    create.add_argument("--title", required=True)
    create.add_argument("--summary")
    group = create.add_mutually_exclusive_group()
    group.add_argument("--file")
    group.add_argument("--article-url")
    create.add_argument("--notify-at", help="RFC 3339 time to notify subscribers")
    create.add_argument("--draft", action="store_true", help="do not notify until `release publish`")
    create.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for the upload to verify (0: do not wait)"
    )
    create.set_defaults(func=cmd_release_create)
    for name, func in (("status", cmd_release_status), ("publish", cmd_release_publish)):
        p = release.add_parser(name)
        _common(p)
        p.add_argument("id")
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> NoReturn:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CliError as exc:
        print(f"patchctl: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("patchctl: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(0)


if __name__ == "__main__":
    main()
