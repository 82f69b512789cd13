"""``patchctl release …``: create (with the upload), upload (resume), status, publish, yank, report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from patchcast_tools.cli import upload as uploader
from patchcast_tools.cli.common import Api, CliError, add_common, emit

KINDS = ["patch", "service-pack", "feature-pack", "update", "critical-solution"]


def _body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product": args.product, "version": args.version, "kind": args.kind, "severity": args.severity,
        "channel": args.channel, "title": args.title, "draft": args.draft,
    }  # fmt: skip
    if args.summary:
        body["summary"] = args.summary
    if args.article_url:
        body["article_url"] = args.article_url
    if args.notify_at:
        body["notify_at"] = args.notify_at
    return body


def cmd_release_create(args: argparse.Namespace) -> None:
    if not args.file and not args.article_url:
        # Asked here, not left to the API: its answer would name the 'filename' field, not the option.
        raise CliError("release create needs --file PATH (the package to upload) or --article-url URL (an article)")
    api = Api(args.api, "release-engineer")
    body = _body(args)
    path: Path | None = None
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise CliError(f"--file: {path} is not a readable file")
        # The size is declared up front (S3 binds the upload to it); the SHA-256 is computed while the file
        # is sent and declared on completion, so the file is read once.
        body["filename"], body["size"] = path.name, uploader.check_size(path)
    release = api.call("POST", "/releases", body)
    if path is not None and release.get("upload"):
        _send(api, args, release, path)
    else:
        emit(args, release, release["id"])


def _send(api: Api, args: argparse.Namespace, release: dict[str, Any], path: Path) -> None:
    _finish(api, args, uploader.upload(api, release, path, show_progress=uploader.show_progress(args.json)))


def _finish(api: Api, args: argparse.Namespace, release: dict[str, Any]) -> None:
    release.pop("upload", None)
    if args.wait:
        release = _wait_for(api, release["id"], args.wait)
    emit(args, release, release["id"])


def cmd_release_upload(args: argparse.Namespace) -> None:
    """Resume (or retry) the upload of a release still awaiting its file."""
    api = Api(args.api, "release-engineer")
    release = api.call("GET", f"/releases/{args.id}")
    if release["status"] != "awaiting-upload":
        raise CliError(f"release {args.id} is {release['status']}, not awaiting an upload")
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"--file: {path} is not a readable file")
    if not release.get("part_size"):
        # A presigned POST cannot resume, but one whose file arrived can still be completed (the API says if not).
        release = uploader.complete_again(api, release, path, show_progress=uploader.show_progress(args.json))
        _finish(api, args, release)
        return
    _send(api, args, release, path)


def _wait_for(api: Api, release_id: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        release = api.call("GET", f"/releases/{release_id}")
        # "available" is a step between verification and scheduled/published, except for drafts, which stay
        passing = release["status"] == "awaiting-upload" or (release["status"] == "available" and not release["draft"])
        if not passing:
            if release["status"] == "rejected":
                raise CliError(f"release {release_id} was rejected: {release.get('reason')}")
            return release
        if time.monotonic() > deadline:
            raise CliError(f"release {release_id} is still {release['status']} after {seconds:.0f} s")
        time.sleep(0.3)


def cmd_release_status(args: argparse.Namespace) -> None:
    release = Api(args.api, "release-engineer").call("GET", f"/releases/{args.id}")
    line = f"{release['id']} {release['status']} {release['product']} {release['kind']} {release['version']}"
    if release.get("reason"):
        line += f" ({release['reason']})"
    emit(args, release, line)


def cmd_release_publish(args: argparse.Namespace) -> None:
    release = Api(args.api, "release-engineer").call("POST", f"/releases/{args.id}/publish", {})
    emit(args, release, f"{release['id']} {release['status']}")


def cmd_release_yank(args: argparse.Namespace) -> None:
    body = {"reason": args.reason}
    if args.superseded_by:
        body["superseded_by"] = args.superseded_by
    release = Api(args.api, "release-engineer").call("POST", f"/releases/{args.id}/yank", body)
    emit(args, release, f"{release['id']} {release['status']}: {release.get('reason')}")


def cmd_release_report(args: argparse.Namespace) -> None:
    report = Api(args.api, "release-engineer").call("GET", f"/releases/{args.id}/report")
    cols = ("notified", "failed", "suppressed", "downloaded", "recalled")
    lines = [f"{report['id']} {report['status']}", f"{'tier':<10}" + "".join(f"{c:>12}" for c in cols)]
    rows = [*report["tiers"].items(), ("total", report["totals"])]
    lines += [f"{tier:<10}" + "".join(f"{counts.get(c, 0):>12}" for c in cols) for tier, counts in rows]
    emit(args, report, "\n".join(lines))


def _add_create(release: Any) -> None:
    create = release.add_parser(
        "create",
        help="create a release and upload its file",
        description="Create a release and upload its file (size and SHA-256 computed from it), or point it at "
        "an article with --article-url. Prints the release id once the upload is verified.",
    )
    add_common(create)
    create.add_argument("--product", required=True, help="product id, e.g. M3")
    create.add_argument("--version", required=True, help="version, e.g. 13.4.1 (unique per product and kind)")
    create.add_argument("--kind", required=True, choices=KINDS, help="what the release is")
    create.add_argument("--severity", required=True, type=int, choices=[1, 2, 3, 4], help="1 (critical) to 4 (low)")
    create.add_argument("--channel", default="ga", choices=["ga", "beta"], help="ga (default) or beta (Elite only)")
    create.add_argument("--title", required=True, help="one line, in the subject of the notice")
    create.add_argument("--summary", help="a paragraph for the notice")
    group = create.add_mutually_exclusive_group()
    group.add_argument("--file", help="the package to upload (one of --file or --article-url is needed)")
    group.add_argument("--article-url", help="an https URL of an article, for a release without a file")
    create.add_argument("--notify-at", help="RFC 3339 time to notify subscribers")
    create.add_argument("--draft", action="store_true", help="do not notify until `release publish`")
    _add_wait(create)
    create.set_defaults(func=cmd_release_create)


def _add_wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the upload to verify (0: do not wait)")


def register(sub: Any) -> None:
    release = sub.add_parser(
        "release", help="create, upload, publish, yank and report on releases", description="Releases."
    ).add_subparsers(dest="action", required=True, metavar="SUBCOMMAND", title="subcommands")
    _add_create(release)
    up = release.add_parser("upload", help="resume an interrupted upload (or complete one whose completion failed)")
    add_common(up)
    up.add_argument("id", help="the release id")
    up.add_argument("--file", required=True, help="the same file as at create")
    _add_wait(up)
    up.set_defaults(func=cmd_release_upload)
    for name, func, what in (
        ("status", cmd_release_status, "show a release and its status"),
        ("publish", cmd_release_publish, "publish a draft or available release now (idempotent)"),
        ("report", cmd_release_report, "counts notified, failed, suppressed, downloaded, per tier"),
    ):
        p = release.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".")
        add_common(p)
        p.add_argument("id", help="the release id")
        p.set_defaults(func=func)
    yank = release.add_parser("yank", help="withdraw a release: downloads stop, a recall notice goes out")
    add_common(yank)
    yank.add_argument("id", help="the release id")
    yank.add_argument("--reason", required=True, help="why, in the recall notice")
    yank.add_argument("--superseded-by", help="id of the release that replaces it")
    yank.set_defaults(func=cmd_release_yank)
