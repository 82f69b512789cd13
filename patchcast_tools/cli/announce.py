"""``patchctl announce …``: announce an upcoming release to Elite accounts (a calendar invitation each), list
the announcements, move one (a new date or text) or cancel it."""

from __future__ import annotations

import argparse
from typing import Any

from patchcast_tools.cli.common import Api, CliError, add_common, emit, table

KINDS = ["patch", "service-pack", "feature-pack", "update"]  # a critical-solution has nothing to plan
_TEXT = (("title", "the title"), ("summary", "what it brings"), ("known_issues", "known issues, if any"))


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    names = ("planned_for", *(f for f, _ in _TEXT))
    return {f: getattr(args, f) for f in names if getattr(args, f, None) is not None}


def _line(a: dict[str, Any]) -> str:
    return f"{a['id']}  {a['status']}  {a['product']} {a['kind']} {a['version']} planned for {a['planned_for']}"


def cmd_create(args: argparse.Namespace) -> None:
    body = {"product": args.product, "kind": args.kind, "version": args.version, **_fields(args)}
    created = Api(args.api, "release-engineer").call("POST", "/announcements", body)
    emit(args, created, created["id"])


def cmd_list(args: argparse.Namespace) -> None:
    found = list(Api(args.api, "release-engineer").items("/announcements"))
    head = ("id", "status", "product", "kind", "version", "planned_for", "sequence", "release_id", "title")
    rows = [[str(a.get(c) if a.get(c) is not None else "-") for c in head] for a in found]
    emit(args, {"items": found, "next": None}, table(head, rows) if rows else "no announcements")


def cmd_move(args: argparse.Namespace) -> None:
    body = _fields(args)
    if not body:
        raise CliError("announce move needs --planned-for DATE or a new --title, --summary or --known-issues")
    moved = Api(args.api, "release-engineer").call("PATCH", f"/announcements/{args.id}", body)
    emit(args, moved, _line(moved))


def cmd_cancel(args: argparse.Namespace) -> None:
    cancelled = Api(args.api, "release-engineer").call("DELETE", f"/announcements/{args.id}")
    emit(args, cancelled, _line(cancelled))


def _text_options(p: argparse.ArgumentParser, *, required: bool) -> None:
    for name, what in _TEXT:
        needed = required and name != "known_issues"
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, required=needed, help=what)


def register(sub: Any) -> None:
    announce = sub.add_parser(
        "announce",
        help="announce upcoming releases to Elite accounts, move or cancel them",
        description="Advance notices of upcoming releases, with calendar invitations (Elite accounts).",
    ).add_subparsers(dest="action", required=True, metavar="SUBCOMMAND", title="subcommands")
    create = announce.add_parser("create", help="announce an upcoming release; prints its id")
    add_common(create)
    create.add_argument("--product", required=True, help="the product id")
    create.add_argument("--kind", required=True, choices=KINDS, help="what is coming")
    create.add_argument("--version", required=True, help="the version it will have")
    create.add_argument("--planned-for", dest="planned_for", required=True, help="the planned date, YYYY-MM-DD")
    _text_options(create, required=True)
    create.set_defaults(func=cmd_create)
    listing = announce.add_parser("list", help="every announcement, newest first")
    add_common(listing)
    listing.set_defaults(func=cmd_list)
    move = announce.add_parser("move", help="a new planned date or text: whoever got it gets the update")
    add_common(move)
    move.add_argument("id", help="the announcement id")
    move.add_argument("--planned-for", dest="planned_for", help="the new planned date, YYYY-MM-DD")
    _text_options(move, required=False)
    move.set_defaults(func=cmd_move)
    cancel = announce.add_parser("cancel", help="cancel it: whoever got it gets the cancellation")
    add_common(cancel)
    cancel.add_argument("id", help="the announcement id")
    cancel.set_defaults(func=cmd_cancel)
