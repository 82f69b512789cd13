"""``patchctl accounts import|list|show|export|review``: support contracts (and an Elite account's review). ``import`` upserts one PUT per row and
reports every row in file order by its line number, each rejected row with all its faults at once; a
rejected row writes nothing, and importing the same file again (or a file ``export`` wrote) changes nothing."""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from patchcast_tools.cli.common import Api, ApiError, CliError, add_common, emit, table

REQUIRED = ("account_id", "name", "tier", "products", "support_start", "support_end")
OPTIONAL = ("timezone", "business_hours", "csm_email", "oncall_email")
_HOURS = re.compile(r"^\s*(\d{1,2})\s*-\s*(\d{1,2})\s*$")
_HOURS_FAULT = "column 'business_hours' must be like 8-17 (start and end hour, local time, 0 <= start < end <= 24)"
# The API's words for a field whose CSV form differs from its JSON form, in the CSV's own terms.
_CSV_WORDS = {"business_hours": _HOURS_FAULT}


def _row_body(row: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The PUT body of a row, and the faults the CLI itself sees in it (their fields still go to the API,
    in a form it refuses, so that it answers the row's other faults in the same run and writes nothing)."""
    body: dict[str, Any] = {
        "name": row.get("name", ""),
        "tier": (row.get("tier") or "").strip(),
        "products": [p for p in (row.get("products") or "").replace(";", " ").split() if p],
        "support_start": (row.get("support_start") or "").strip(),
        "support_end": (row.get("support_end") or "").strip(),
    }
    faults: list[dict[str, str]] = []
    for optional in ("timezone", "csm_email", "oncall_email"):
        if (row.get(optional) or "").strip():
            body[optional] = row[optional].strip()
    hours = (row.get("business_hours") or "").strip()
    if hours:
        match = _HOURS.match(hours)
        if match:
            body["business_hours"] = {"start": int(match[1]), "end": int(match[2])}
        else:
            body["business_hours"] = hours  # not an object: the API refuses the row
            faults.append({"field": "business_hours", "message": _HOURS_FAULT})
    for column in sorted(str(k) for k in row if k is not None and k not in REQUIRED + OPTIONAL):
        body[column] = row[column]  # an unknown field: the API names it among the row's faults
    return body, faults


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CliError(f"{path} is not UTF-8 text") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise CliError(
                f"{path}: line 1: missing column(s) {', '.join(missing)}{_delimiter_hint(reader.fieldnames)}"
            )
        for row in reader:
            # the line a row starts on: where it ended, less the line breaks inside quoted fields
            inner = sum(str(v).count("\n") for v in row.values() if isinstance(v, str))
            rows.append((reader.line_num - inner, row))
    except csv.Error as exc:
        raise CliError(f"{path}: line {reader.line_num}: {exc}") from exc
    return rows


def _delimiter_hint(header: Sequence[str] | None) -> str:
    """Where the header is one column holding the others behind another separator (a spreadsheet saved with
    semicolons or tabs), say so: the columns are there, the file's separator is not a comma."""
    if header and len(header) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if sep in header[0] and set(REQUIRED) <= {c.strip() for c in header[0].split(sep)}:
                return f" (the columns are separated by {name}: save the file as comma-separated CSV)"
    return ""


def _row_faults(row: dict[str, Any], seen: dict[str, int]) -> list[dict[str, str]]:
    """Faults that keep a row from being sent at all: no id to PUT, the same id twice, cells past the header."""
    faults = []
    if None in row:
        faults.append({"field": "", "message": "more fields than columns"})
    account_id = (row.get("account_id") or "").strip()
    if not account_id:
        faults.append({"field": "account_id", "message": "column 'account_id' is empty"})
    elif account_id in seen:
        faults.append(
            {
                "field": "account_id",
                "message": f"account {account_id} is already on line {seen[account_id]} of this file",
            }
        )
    return faults


def _api_faults(exc: ApiError, mine: list[dict[str, str]]) -> list[dict[str, str]]:
    """The API's faults of a row, the CLI's own wording where it saw the fault first."""
    ours = {f["field"] for f in mine}
    theirs = [
        {"field": str(f.get("field", "")), "message": _CSV_WORDS.get(str(f.get("field")), str(f.get("message", "")))}
        for f in exc.body.get("fields", [])
        if f.get("field") not in ours
    ]
    if not theirs and not mine:  # a single fault comes as the plain {"error", "message"}, naming its field
        message = str(exc.body.get("message") or exc)
        named = re.match(r"Field '(\w+)'", message)
        field = named[1] if named else ""
        theirs = [{"field": field, "message": _CSV_WORDS.get(field, message)}]
    return [*mine, *theirs]


def _stops_everything(exc: CliError) -> bool:
    """No API, or credentials it refuses: every further row would fail the same way."""
    return not isinstance(exc, ApiError) or exc.status in (401, 403)


def _import_row(api: Api, line: int, row: dict[str, Any], seen: dict[str, int]) -> dict[str, Any]:
    account_id = (row.get("account_id") or "").strip()
    faults = _row_faults(row, seen)
    if not faults:
        seen[account_id] = line
        body, faults = _row_body(row)
        try:
            got = api.call("PUT", f"/accounts/{requests.utils.quote(account_id, safe='')}", body)
        except CliError as exc:
            if _stops_everything(exc):
                raise
            faults = _api_faults(exc, faults) if isinstance(exc, ApiError) else faults
        else:
            return {
                "line": line,
                "account_id": account_id,
                "accepted": True,
                "changed": got.get("changed", True),
                "created": got.get("created", False),
            }
    error = "; ".join(f["message"].rstrip(".") for f in faults)
    return {"line": line, "account_id": account_id, "accepted": False, "error": error, "faults": faults}


def _describe_row(r: dict[str, Any]) -> str:
    """A row as one line when accepted; a rejected one with each fault on a line of its own."""
    if r["accepted"]:
        done = "created" if r.get("created") else "updated" if r["changed"] else "unchanged"
        return f"line {r['line']}: {r['account_id']} {done}"
    faults = "".join(f"\n  - {f['message'].rstrip('.')}" for f in r["faults"])
    return f"line {r['line']}: rejected {r['account_id'] or '(no id)'}:{faults}"


def cmd_accounts_import(args: argparse.Namespace) -> None:
    api = Api(args.api, "support-admin")
    seen: dict[str, int] = {}
    rows = [_import_row(api, line, row, seen) for line, row in _rows(Path(args.file))]
    accepted = [r for r in rows if r["accepted"]]
    rejected = [r for r in rows if not r["accepted"]]
    changed = sum(1 for r in accepted if r["changed"] and not r.get("created"))
    created = sum(1 for r in accepted if r.get("created"))
    report = {"rows": rows, "accepted": accepted, "rejected": rejected}
    lines = [_describe_row(r) for r in rows]  # file order: a reader fixes the file top to bottom
    lines.append(f"{len(accepted)} accepted ({created} created, {changed} updated), {len(rejected)} rejected")
    emit(args, report, "\n".join(lines))
    if rejected:
        sys.exit(1)


def _csv_row(account: dict[str, Any]) -> dict[str, str]:
    """A contract as the row ``import`` reads back to the same contract."""
    hours = account.get("business_hours") or {"start": 8, "end": 17}
    return {
        **{c: str(account.get(c) or "") for c in REQUIRED + OPTIONAL},
        "products": ";".join(account.get("products", [])),
        "business_hours": f"{hours['start']}-{hours['end']}",
    }


def cmd_accounts_export(args: argparse.Namespace) -> None:
    accounts = list(Api(args.api, "support-admin").items("/accounts"))
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=REQUIRED + OPTIONAL, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_csv_row(a) for a in accounts)
    path = Path(args.file)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(out.getvalue(), encoding="utf-8")
        os.replace(tmp, path)  # a reader never sees half an export
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from exc
    emit(args, {"file": str(path), "accounts": len(accounts)}, f"wrote {len(accounts)} contract(s) to {path}")


def cmd_accounts_list(args: argparse.Namespace) -> None:
    accounts = list(Api(args.api, "support-admin").items("/accounts"))
    rows = [
        [a["account_id"], a["tier"], f"{a['support_start']}..{a['support_end']}", " ".join(a["products"]), a["name"]]
        for a in accounts
    ]
    emit(args, accounts, table(("account", "tier", "support", "products", "name"), rows) if rows else "no contracts")


def cmd_accounts_show(args: argparse.Namespace) -> None:
    account = Api(args.api, "support-admin").call("GET", f"/accounts/{requests.utils.quote(args.id, safe='')}")
    row = _csv_row(account)
    emit(args, account, "\n".join(f"{c:<15} {row[c]}" for c in REQUIRED + OPTIONAL))


def _review_text(review: dict[str, Any]) -> str:
    t, period = review["totals"], review["period"]
    lines = [
        f"{review['account_id']} {period['from']}..{period['to']}: {t['releases']} release(s), "
        f"{t['notified']} notified, {t['downloaders']} downloader(s); {review['days_left']} day(s) of support left"
    ]
    lines += [
        f"  {r['product']} {r['version']:<12} sev {r['severity']} {r['status']:<9} notified "
        f"{r['counts']['notified']}, downloaders {r['counts']['downloaders']}"
        for r in review["releases"]
    ]
    lines += [f"  not downloaded: sev {w['severity']} {w['product']} {w['version']}" for w in review["not_downloaded"]]
    for recall in review.get("recalls", []):
        got = "downloaded" if recall.get("build_downloaded") else "not downloaded"
        lines.append(
            f"  recalled: {recall['version']} to {len(recall.get('recalled', []))} contact(s); the build was {got}"
        )
    contacts = review.get("contacts") or {}
    lines.append(f"  contacts: {contacts.get('subscribed', 0)} subscribed")
    lines += [f"  suppressed: {c['email']} ({c['role']})" for c in contacts.get("suppressed", [])]
    lines += [
        f"  bouncing: {c['email']} ({c['transient_bounces']} soft bounce(s))" for c in contacts.get("bouncing", [])
    ]
    return "\n".join(lines)


def cmd_accounts_review(args: argparse.Namespace) -> None:
    query = "&".join(
        f"{k}={requests.utils.quote(v, safe='')}" for k, v in (("from", args.start), ("to", args.end)) if v
    )
    path = f"/accounts/{requests.utils.quote(args.id, safe='')}/review" + (f"?{query}" if query else "")
    review = Api(args.api, "support-admin").call("GET", path)
    emit(args, review, _review_text(review))


def register(sub: Any) -> None:
    accounts = sub.add_parser(
        "accounts", help="support contracts: import, list, show, export, review", description="Support contracts."
    ).add_subparsers(dest="action", required=True, metavar="SUBCOMMAND", title="subcommands")
    columns = (
        "Columns: " + ", ".join(REQUIRED) + " (required); " + ", ".join(OPTIONAL) + " (optional). "
        "products: separated by ';' or spaces; dates: YYYY-MM-DD; business_hours: like 8-17. See docs/subscriptions.md."
    )
    imp = accounts.add_parser("import", help="upsert contracts from a CSV file", description=columns)
    add_common(imp)
    imp.add_argument("file", help="the CSV file (UTF-8, a header line, one contract per row)")
    imp.set_defaults(func=cmd_accounts_import)
    listing = accounts.add_parser("list", help="every contract", description="Every contract, by account id.")
    add_common(listing)
    listing.set_defaults(func=cmd_accounts_list)
    show = accounts.add_parser("show", help="one contract", description="One contract, field by field.")
    add_common(show)
    show.add_argument("id", help="the account id")
    show.set_defaults(func=cmd_accounts_show)
    export = accounts.add_parser(
        "export",
        help="write every contract to a CSV file that import takes back unchanged",
        description="Write every contract to FILE as CSV, in the columns import reads. " + columns,
    )
    add_common(export)
    export.add_argument("file", help="the CSV file to write (replaced if it exists)")
    export.set_defaults(func=cmd_accounts_export)
    review = accounts.add_parser(
        "review",
        help="an Elite account's review for its CSM",
        description="The CSM's review of an Elite account: releases of its products in the period, who was notified "
        "and downloaded, what nobody downloaded yet, recalls, suppressed and bouncing contacts. See docs/reviews.md.",
    )
    add_common(review)
    review.add_argument("id", help="the account id")
    review.add_argument("--from", dest="start", help="first day (YYYY-MM-DD) or time; default: the last period's")
    review.add_argument("--to", dest="end", help="last day (YYYY-MM-DD, inclusive) or time; default: the last period's")
    review.set_defaults(func=cmd_accounts_review)
