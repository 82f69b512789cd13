"""``patchctl release …``: create (with the upload), upload (resume), list, status, edit, preview, publish, yank,
report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from patchcast_tools.cli import upload as uploader
from patchcast_tools.cli.common import Api, CliError, add_common, emit, table

KINDS = ["patch", "service-pack", "feature-pack", "update", "critical-solution"]
_APPLIES = (
    "the version lines it is for, e.g. 13.4,13.5 (or the option once per line); only contacts running one "
    "of them are told (default: every line)"
)


def _body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product": args.product,
        "version": args.version,
        "kind": args.kind,
        "severity": args.severity,
        "channel": args.channel,
        "title": args.title,
        "draft": args.draft,
    }
    if args.summary:
        body["summary"] = args.summary
    if args.article_url:
        body["article_url"] = args.article_url
    if args.notify_at:
        body["notify_at"] = args.notify_at
    if getattr(args, "applies_to", None):
        body["applies_to"] = _lines(args.applies_to)
    return body


def _lines(given: list[str]) -> list[str]:
    """``--applies-to 13.4,13.5`` and ``--applies-to 13.4 --applies-to 13.5`` alike; the API checks each line
    (and names the field) so an empty one between commas is sent as such."""
    return [line.strip() for option in given for line in option.split(",")]


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


def shown_status(release: dict[str, Any]) -> str:
    """A release's status as people are shown it: an available release held back from publishing is a draft."""
    return "draft" if release.get("draft") and release.get("status") == "available" else str(release.get("status"))


def cmd_release_status(args: argparse.Namespace) -> None:
    release = Api(args.api, "release-engineer").call("GET", f"/releases/{args.id}")
    line = f"{release['id']} {shown_status(release)} {release['product']} {release['kind']} {release['version']}"
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


STATUSES = ["awaiting-upload", "rejected", "draft", "available", "scheduled", "published", "yanked"]
PAGE_SIZE = 100  # the API's largest page
_LIST_FILTERS = ("product", "status", "kind", "created_from", "created_to", "published_from", "published_to")


def cmd_release_list(args: argparse.Namespace) -> None:
    """Every release matching the filters, newest first, following the API's cursor to the end (or --limit)."""
    api = Api(args.api, "release-engineer")
    query = {f: getattr(args, f) for f in _LIST_FILTERS if getattr(args, f)}
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(found) < args.limit:
        page = api.call(
            "GET",
            "/releases?"
            + urlencode(
                {**query, "limit": min(PAGE_SIZE, args.limit - len(found)), **({"cursor": cursor} if cursor else {})}
            ),
        )
        found += page["items"]
        cursor = page["next"]
        if not cursor:
            break
    emit(args, {"items": found, "next": cursor}, list_table(found) if found else "no releases")


def _minute(stamp: str | None) -> str:
    return stamp[:16].replace("T", " ") if stamp else "-"


def list_table(releases: list[dict[str, Any]]) -> str:
    """Releases as rows within ``WIDTH`` columns, newest first: the title is cut to the room left (``--json``
    has every field). ``due``: when a scheduled release goes out, else when it went out."""
    head = ("id", "status", "sev", "product", "kind", "version", "due", "title")
    rows = [
        [r["id"], shown_status(r), str(r["severity"]), r["product"], r["kind"], r["version"],
         _minute(r.get("notify_at") or r.get("published_at")), r.get("title") or "-"]
        for r in releases
    ]  # fmt: skip
    return table(head, rows)


def cmd_release_edit(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {}
    for field in ("title", "summary", "notify_at"):
        if getattr(args, field) is not None:
            body[field] = getattr(args, field)
    if args.unschedule:
        body["notify_at"] = None
    if args.draft is not None:
        body["draft"] = args.draft
    if getattr(args, "applies_to", None):
        body["applies_to"] = _lines(args.applies_to)
    if getattr(args, "all_versions", False):
        body["applies_to"] = None
    if not body:
        raise CliError(
            "nothing to change: give --title, --summary, --notify-at, --unschedule, --draft/--no-draft, "
            "--applies-to or --all-versions"
        )
    release = Api(args.api, "release-engineer").call("PATCH", f"/releases/{args.id}", body)
    when = f" at {release['notify_at']}" if release.get("notify_at") else ""
    emit(args, release, f"{release['id']} {shown_status(release)}{when}: {release['title']}")


PREVIEW_COLUMNS = ("subscribers", "oncall_copies", "csm_copies", "emails", "done_after_s")
TIERS = ("elite", "premium", "xtreme")  # always in this order, as the seed ranks them


def _by_tier(per_tier: dict[str, Any], total: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The tiers in the seed's order (whatever order the API answered them in), then the total."""
    return [
        *((t, per_tier[t]) for t in TIERS if t in per_tier),
        *sorted((t, c) for t, c in per_tier.items() if t not in TIERS),
        ("total", total),
    ]


def grid(head: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    """A table of text: the first column left-aligned, the rest (counts) right-aligned, each as wide as needed."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(head), *(line(r) for r in rows)]


def preview_table(got: dict[str, Any]) -> str:
    """The audience preview as text: who would be notified per tier, then who is left out and why (a row per
    reason, a column per tier: it stays narrow however many reasons there are)."""
    rows = _by_tier(got["tiers"], {**got["totals"], "done_after_s": got["estimated_send_s"]})
    lines = [f"{got['id']} {shown_status(got)} {got['product']}: if published at {got['as_of']}"]
    lines += grid(
        ("tier", "subscribers", "on-call", "csm", "emails", "done after s"),
        [[t, *(_seconds(c.get(k)) for k in PREVIEW_COLUMNS)] for t, c in rows],
    )
    lines += ["", "left out (why, per tier):"]
    lines += grid(
        ("why", *(t for t, _ in rows)),
        [[r, *(str(c["excluded"][r]) for _, c in rows)] for r in got["totals"]["excluded"]],
    )
    rate = got["send_rate_per_s"]
    lines.append("")
    lines.append(f"SES rate used: {rate} emails/s ({got['rate_source']})" if rate else "SES rate: unpaced (0)")
    if not got["complete"]:
        lines.append(f"partial: the first {got['pages']} pages of the audience only (time budget)")
    lines.append(CSM_NOTE)
    return "\n".join(lines)


def cmd_release_preview(args: argparse.Namespace) -> None:
    got = Api(args.api, "release-engineer").call("GET", f"/releases/{args.id}/audience")
    emit(args, got, preview_table(got))


REPORT_COLUMNS = ("notified", "failed", "skipped", "suppressed", "oncall_copies", "csm_copies", "downloaded", "downloaders",
                  "recalled")  # fmt: skip


# Said wherever CSM copies are counted: right after publishing the report shows fewer than the preview promised.
CSM_NOTE = "csm: an Elite CSM's copy goes out about 30 s after its account's last notice"


def report_table(report: dict[str, Any]) -> str:
    """The report as text: counts per tier and in total, then the time to notice per tier."""
    rows = _by_tier(report["tiers"], report["totals"])
    heads = (
        "tier",
        "notified",
        "failed",
        "skipped",
        "suppressed",
        "on-call",
        "csm",
        "downloads",
        "downloaders",
        "recalled",
    )
    lines = [f"{report['id']} {shown_status(report)}"]
    lines += grid(heads, [[t, *(str(c.get(k, 0)) for k in REPORT_COLUMNS)] for t, c in rows])
    lines.append("")
    times = [[t, *(_seconds((c.get("time_to_notice_s") or {}).get(k)) for k in ("p50", "p95", "max"))] for t, c in rows]
    lines += grid(("time to notice (s)", "p50", "p95", "max"), times)
    first = report.get("time_to_first_download_s")
    lines.append(f"time to first download: {_seconds(first)} s" if first is not None else "no download yet")
    lines.append(CSM_NOTE)
    return "\n".join(lines)


def _seconds(value: Any) -> str:
    return "-" if value is None else str(value)


def cmd_release_report(args: argparse.Namespace) -> None:
    report = Api(args.api, "release-engineer").call("GET", f"/releases/{args.id}/report")
    emit(args, report, report_table(report))


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
    create.add_argument("--applies-to", action="append", metavar="LINES", help=_APPLIES)
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
        ("report", cmd_release_report, "subscribers, copies, downloads, downloaders and time to notice, per tier"),
        ("preview", cmd_release_preview, "who would be notified now, per tier, who is left out and why"),
    ):
        p = release.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".")
        add_common(p)
        p.add_argument("id", help="the release id")
        p.set_defaults(func=func)
    _add_list(release)
    _add_edit(release)
    yank = release.add_parser("yank", help="withdraw a release: downloads stop, a recall notice goes out")
    add_common(yank)
    yank.add_argument("id", help="the release id")
    yank.add_argument("--reason", required=True, help="why, in the recall notice")
    yank.add_argument("--superseded-by", help="id of the release that replaces it")
    yank.set_defaults(func=cmd_release_yank)


def _add_list(release: Any) -> None:
    p = release.add_parser("list", help="releases, newest first (every page, up to --limit)")
    add_common(p)
    p.add_argument("--product", help="only this product")
    p.add_argument("--status", choices=STATUSES, help="only releases in this status")
    p.add_argument("--kind", choices=KINDS, help="only this kind")
    for edge in ("created", "published"):
        p.add_argument(f"--{edge}-from", dest=f"{edge}_from", help=f"{edge} at or after this RFC 3339 time")
        p.add_argument(f"--{edge}-to", dest=f"{edge}_to", help=f"{edge} at or before this RFC 3339 time")
    p.add_argument("--limit", type=int, default=200, help="at most this many releases (default 200)")
    p.set_defaults(func=cmd_release_list)


def _add_edit(release: Any) -> None:
    p = release.add_parser("edit", help="change a release before it is published")
    add_common(p)
    p.add_argument("id", help="the release id")
    p.add_argument("--title", help="the new title (as at create: one line, at most 200 characters)")
    p.add_argument("--summary", help="the new summary (at most 4000 characters)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--notify-at", help="RFC 3339 time to notify subscribers (reschedule)")
    when.add_argument("--unschedule", action="store_true", help="take it off the schedule (publish by hand)")
    lines = p.add_mutually_exclusive_group()
    lines.add_argument("--applies-to", action="append", metavar="LINES", help=_APPLIES)
    lines.add_argument("--all-versions", action="store_true", help="for every version line (clears --applies-to)")
    p.add_argument(
        "--draft",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="--draft holds it until `release publish`; --no-draft lets it go at its time",
    )
    p.set_defaults(func=cmd_release_edit)
