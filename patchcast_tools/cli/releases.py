"""``patchctl release …``: create (with the upload), status, publish."""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path
from typing import Any

import requests

from patchcast_tools.cli.common import Api, CliError, add_common, emit


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
    emit(args, release, release["id"])


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
    emit(
        args,
        release,
        f"{release['id']} {release['status']} {release['product']} {release['kind']} {release['version']}",
    )


def cmd_release_publish(args: argparse.Namespace) -> None:
    release = Api(args.api, "release-engineer").call("POST", f"/releases/{args.id}/publish", {})
    emit(args, release, f"{release['id']} {release['status']}")


def register(sub: Any) -> None:
    release = sub.add_parser("release", help="releases").add_subparsers(dest="action", required=True)
    create = release.add_parser("create", help="create a release and upload its file")
    add_common(create)
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
        add_common(p)
        p.add_argument("id")
        p.set_defaults(func=func)
