"""The report as a page for release engineers: the table, and an SVG chart drawn here (no script) of the
emails SES accepted per tier over the time since publishing, cumulative, from the report's histogram, so
that "Elite first" shows as the Elite line rising first. Every text from data is escaped."""

from __future__ import annotations

import html
import math
from typing import Any

from chalicelib.domain.core.entitlements import TIERS
from chalicelib.domain.core.models import Release

WIDTH, HEIGHT, LEFT, BOTTOM, TOP, RIGHT = 640, 280, 56, 36, 12, 110
COLOURS = {"elite": "#7b2cbf", "premium": "#1d70b8", "xtreme": "#2a9d8f"}
_COLUMNS = (("notified", "subscribers notified"), ("failed", "failed"), ("skipped", "skipped"), ("suppressed", "suppressed"),
            ("oncall_copies", "on-call copies"), ("csm_copies", "CSM copies"), ("downloaded", "downloads"),
            ("downloaders", "downloaders"), ("recalled", "recalled"))  # fmt: skip
_TICKS = ((1, "1 s"), (10, "10 s"), (60, "1 min"), (600, "10 min"), (3600, "1 h"), (21600, "6 h"), (86400, "1 d"))


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _seconds(value: Any) -> str:
    return "–" if value is None else f"{value} s"


def _table(report: dict[str, Any]) -> str:
    head = "".join(f"<th scope='col'>{_e(label)}</th>" for _, label in _COLUMNS)
    head += "<th scope='col'>time to notice p50 / p95 / max</th>"
    rows = []
    for tier, counts in [*report["tiers"].items(), ("total", report["totals"])]:
        cells = "".join(f"<td>{_e(counts.get(c, 0))}</td>" for c, _ in _COLUMNS)
        spent = counts.get("time_to_notice_s") or {}
        times = " / ".join(_seconds(spent.get(k)) for k in ("p50", "p95", "max"))
        rows.append(f"<tr><th scope='row'>{_e(tier)}</th>{cells}<td>{_e(times)}</td></tr>")
    return f"<table><thead><tr><th scope='col'>tier</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _x(seconds: float, longest: float) -> float:
    # Log scale: the buckets grow by a quarter, and a send spans seconds to hours.
    span = math.log10(max(longest, 10.0) + 1)
    return LEFT + (WIDTH - LEFT - RIGHT) * math.log10(seconds + 1) / span


def _y(count: int, most: int) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * count / max(most, 1)


def _axes(longest: float, most: int) -> list[str]:
    base = HEIGHT - BOTTOM
    parts = [
        f"<line x1='{LEFT}' y1='{base}' x2='{WIDTH - RIGHT}' y2='{base}' stroke='#333'/>",
        f"<line x1='{LEFT}' y1='{TOP}' x2='{LEFT}' y2='{base}' stroke='#333'/>",
    ]
    for seconds, label in _TICKS:
        if seconds <= max(longest, 10.0):
            x = _x(seconds, longest)
            parts.append(f"<line x1='{x:.1f}' y1='{base}' x2='{x:.1f}' y2='{base + 4}' stroke='#333'/>")
            parts.append(f"<text x='{x:.1f}' y='{base + 16}' font-size='11' text-anchor='middle'>{label}</text>")
    for count in sorted({0, most // 2, most}):
        y = _y(count, most)
        parts.append(f"<text x='{LEFT - 6}' y='{y + 4:.1f}' font-size='11' text-anchor='end'>{count}</text>")
    parts.append(
        f"<text x='{(WIDTH - RIGHT + LEFT) / 2}' y='{HEIGHT - 4}' font-size='11' text-anchor='middle'>"
        "time since publishing (log scale)</text>"
    )
    return parts


def chart(histograms: dict[str, dict[int, int]]) -> str:
    """Cumulative notices accepted per tier against the time since publishing, as an inline SVG."""
    filled = {t: h for t, h in histograms.items() if h}
    if not filled:
        return "<p>No email accepted yet.</p>"
    longest = float(max(max(h) for h in filled.values()))
    most = max(sum(h.values()) for h in filled.values())
    parts = _axes(longest, most)
    order = sorted(filled, key=lambda t: TIERS[t].rank if t in TIERS else 99)
    for n, tier in enumerate(order):
        total, points = 0, [f"{_x(0, longest):.1f},{_y(0, most):.1f}"]
        for edge in sorted(filled[tier]):
            total += filled[tier][edge]
            points.append(f"{_x(edge, longest):.1f},{_y(total, most):.1f}")
        colour = COLOURS.get(tier, "#555")
        parts.append(
            f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{' '.join(points)}'>"
            f"<title>{_e(tier)}: {total} accepted</title></polyline>"
        )
        y = TOP + 14 * n + 8
        parts.append(
            f"<rect x='{WIDTH - RIGHT + 10}' y='{y - 8}' width='10' height='10' fill='{colour}'/>"
            f"<text x='{WIDTH - RIGHT + 24}' y='{y + 1}' font-size='12'>{_e(tier)} ({total})</text>"
        )
    label = _e("Subscribers' notices accepted by SES per tier, cumulative, against the time since publishing")
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{label}' width='{WIDTH}' "
        f"height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}'><title>{label}</title>{''.join(parts)}</svg>"
    )


def _failed(report: dict[str, Any]) -> str:
    failed = report.get("failed_batches") or []
    if not failed:
        return ""
    items = "".join(f"<li><code>{_e(b.get('batch_id', ''))}</code>: {_e(b.get('error', ''))}</li>" for b in failed)
    return f"<h2>Batches given up</h2><ul>{items}</ul>"


def render(release: Release, report: dict[str, Any]) -> tuple[str, str]:
    """The page's title and body, from the report (``reports.report``) of ``release``."""
    histograms = {
        tier: {int(edge): int(n) for edge, n in (counts.get("accepted_after_s") or {}).items()}
        for tier, counts in report["tiers"].items()
    }
    title = f"Report: {release.product} {release.version}"
    first = report.get("time_to_first_download_s")
    facts = (
        f"<p>{_e(release.title)}</p><p>Status <strong>{_e(release.status)}</strong>; published "
        f"{_e(release.published_at or 'not yet')}. First download {_e(_seconds(first))} after publishing.</p>"
    )
    note = f"<p><small>Times: {_e(report.get('time_precision', ''))}.</small></p>"
    style = (
        "<style>body{font-family:sans-serif;margin:1.5rem}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}</style>"
    )
    body = f"{style}{facts}<h2>Delivery over time</h2>{chart(histograms)}<h2>Counts</h2>{_table(report)}{note}"
    return title, body + _failed(report)
