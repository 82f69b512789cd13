"""``patchctl accounts import FILE.csv``: upsert support contracts, reporting each row by line."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import requests

from patchcast_tools.cli.common import Api, CliError, add_common, emit

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
    emit(args, report, "\n".join(lines))
    if report["rejected"]:
        sys.exit(1)


def register(sub: Any) -> None:
    accounts = sub.add_parser("accounts", help="support contracts").add_subparsers(dest="action", required=True)
    imp = accounts.add_parser("import", help="upsert contracts from a CSV file")
    add_common(imp)
    imp.add_argument("file")
    imp.set_defaults(func=cmd_accounts_import)
