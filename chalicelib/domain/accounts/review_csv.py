"""The CSM's review as a table: its columns, the counts a release has (``COUNTED``, the review's totals too) and one
row per release, the email's CSV attachment. A leaf: the review (``review``) and its email (``review_mail``) both
read it, so neither imports the other back."""

from __future__ import annotations

from typing import Any

CSV_COLUMNS = ("release_id", "product", "version", "kind", "severity", "title", "published_at", "status",
               "notified", "failed", "suppressed", "oncall_copies", "csm_copies", "downloaded", "downloaders",
               "recalled", "recalled_build_downloaded")  # fmt: skip
COUNTED = CSV_COLUMNS[8:16]  # the counts of a release (and the review's totals)


def csv_rows(review: dict[str, Any]) -> list[list[str]]:
    """One row per release (``CSV_COLUMNS``), the header first: the email's attachment."""
    rows = [list(CSV_COLUMNS)]
    for p in review["releases"]:
        fixed = [p["id"], p["product"], p["version"], p["kind"], str(p["severity"]), p["title"],
                 p["published_at"] or "", p["status"]]  # fmt: skip
        counts = [str(p["counts"][c]) for c in COUNTED]
        recalled = "" if p["recall"] is None else ("yes" if p["recall"]["build_downloaded"] else "no")
        rows.append([*fixed, *counts, recalled])
    return rows
