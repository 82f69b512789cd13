"""``patchctl accounts import FILE.csv``: upsert support contracts, one PUT per row, reporting each row
by its line number; a rejected row writes nothing, and importing the same file again changes nothing."""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from pathlib import Path
from typing import Any

import requests

from patchcast_tools.cli.common import Api, CliError, add_common, emit

REQUIRED = ("account_id", "name", "tier", "products", "support_start", "support_end")
OPTIONAL = ("timezone", "business_hours", "csm_email", "oncall_email")
_HOURS = re.compile(r"^\s*(\d{1,2})\s*-\s*(\d{1,2})\s*$")


class RowError(Exception):
    """A row the CLI itself can tell is wrong, before asking the API."""


def _row_body(row: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": row.get("name", ""),
        "tier": (row.get("tier") or "").strip(),
        "products": [p for p in (row.get("products") or "").replace(";", " ").split() if p],
        "support_start": (row.get("support_start") or "").strip(),
        "support_end": (row.get("support_end") or "").strip(),
    }
    for optional in ("timezone", "csm_email", "oncall_email"):
        if (row.get(optional) or "").strip():
            body[optional] = row[optional].strip()
    hours = (row.get("business_hours") or "").strip()
    if hours:
        match = _HOURS.match(hours)
        if not match:
            raise RowError("column 'business_hours' must be like 8-17 (start and end hour, local time)")
        body["business_hours"] = {"start": int(match[1]), "end": int(match[2])}
    return body


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
            raise CliError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        for row in reader:
            # the line a row starts on: where it ended, less the line breaks inside quoted fields
            inner = sum(str(v).count("\n") for v in row.values() if isinstance(v, str))
            rows.append((reader.line_num - inner, row))
    except csv.Error as exc:
        raise CliError(f"{path}: line {reader.line_num}: {exc}") from exc
    return rows


def _check(row: dict[str, Any], seen: dict[str, int]) -> tuple[str, dict[str, Any]]:
    extra = sorted(str(k) for k in row if k not in REQUIRED + OPTIONAL)
    if extra:
        raise RowError(f"unknown column(s) {', '.join(extra)}" if None not in row else "more fields than columns")
    account_id = (row.get("account_id") or "").strip()
    if not account_id:
        raise RowError("column 'account_id' is empty")
    if account_id in seen:
        raise RowError(f"account {account_id} is already on line {seen[account_id]} of this file")
    return account_id, _row_body(row)


def _stops_everything(error: str) -> bool:
    """No API, or credentials it refuses: every further row would fail the same way."""
    return error.startswith("cannot reach") or " (401)" in error or " (403)" in error


def cmd_accounts_import(args: argparse.Namespace) -> None:
    api = Api(args.api, "support-admin")
    path = Path(args.file)
    rows = _rows(path)
    report: dict[str, list[dict[str, Any]]] = {"accepted": [], "rejected": []}
    seen: dict[str, int] = {}
    for line, row in rows:
        try:
            account_id, body = _check(row, seen)
            seen[account_id] = line
            got = api.call("PUT", f"/accounts/{requests.utils.quote(account_id, safe='')}", body)
        except (RowError, CliError) as exc:
            if isinstance(exc, CliError) and _stops_everything(str(exc)):
                raise
            report["rejected"].append({"line": line, "account_id": (row.get("account_id") or "").strip(),
                                       "error": str(exc)})  # fmt: skip
            continue
        report["accepted"].append({"line": line, "account_id": account_id, "changed": got.get("changed", True)})
    lines = [
        f"line {a['line']}: {a['account_id']} {'updated' if a['changed'] else 'unchanged'}" for a in report["accepted"]
    ]
    lines += [f"line {r['line']}: rejected {r['account_id'] or '(no id)'}: {r['error']}" for r in report["rejected"]]
    changed = sum(1 for a in report["accepted"] if a["changed"])
    lines.append(f"{len(report['accepted'])} accepted ({changed} changed), {len(report['rejected'])} rejected")
    emit(args, report, "\n".join(lines))
    if report["rejected"]:
        sys.exit(1)


def register(sub: Any) -> None:
    accounts = sub.add_parser("accounts", help="support contracts").add_subparsers(dest="action", required=True)
    imp = accounts.add_parser(
        "import",
        help="upsert contracts from a CSV file",
        description="Columns: " + ", ".join(REQUIRED) + " (required); " + ", ".join(OPTIONAL) + " (optional). "
        "products: separated by ';' or spaces; dates: YYYY-MM-DD; business_hours: like 8-17. See docs/subscriptions.md.",
    )
    add_common(imp)
    imp.add_argument("file")
    imp.set_defaults(func=cmd_accounts_import)
