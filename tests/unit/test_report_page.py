"""The report page's chart: cumulative lines per tier on a log time axis, drawn without script."""

from __future__ import annotations

import math
import re

from chalicelib.domain.reports import page as report_page


def _last_x(svg: str, tier: str) -> float:
    for points, title in re.findall(r"points='([^']*)'><title>(\w+):", svg):
        if title == tier:
            return float(points.split()[-1].split(",")[0])
    raise AssertionError(tier)


def test_a_tier_done_earlier_reaches_its_total_further_left() -> None:
    svg = report_page.chart({"elite": {2: 5}, "premium": {3: 2, 15: 3}, "xtreme": {}})
    assert _last_x(svg, "elite") < _last_x(svg, "premium")
    assert "xtreme" not in svg  # nothing accepted: no line
    assert "<script" not in svg and svg.startswith("<svg")
    assert "aria-label='Subscribers&#x27; notices" in svg  # the label's apostrophe cannot end the attribute


def test_no_email_yet_is_said_in_words() -> None:
    assert "No email accepted yet" in report_page.chart({"elite": {}})


def test_a_failed_batch_and_every_text_from_data_are_escaped_on_the_page() -> None:
    # GIVEN a release whose title and a failed batch's id and error hold markup
    from tests.domain.world import release

    hostile = "<script>alert(1)</script>"
    report = {
        "tiers": {"premium": {"notified": 1, "accepted_after_s": {"2": 1}}},
        "totals": {"notified": 1},
        "failed_batches": [{"batch_id": f"b1{hostile}", "error": f"SES said {hostile}"}],
    }
    # WHEN the page is rendered
    title, body = report_page.render(release(title=hostile), report)
    # THEN no markup from data survives, and the failed batch is listed
    assert "<script" not in body and body.count("&lt;script&gt;") == 3
    assert "<h2>Batches given up</h2>" in body and "SES said &lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert title == "Report: M3 1.0"


def test_the_page_states_the_release_the_table_row_by_row_and_the_time_precision() -> None:
    # GIVEN a report of one tier, with its time to notice, and a total with no times yet
    from tests.domain.world import release

    report = {
        "tiers": {"elite": {"notified": 3, "failed": 1, "time_to_notice_s": {"p50": 2, "p95": 5, "max": 8}}},
        "totals": {"notified": 3, "failed": 1, "downloaded": 2},
        "time_to_first_download_s": 40,
        "time_precision": "whole seconds",
    }
    shipped = release(status="published", published_at="2026-01-01T00:00:00Z")
    # WHEN it is rendered
    _title, body = report_page.render(shipped, report)
    # THEN the facts, the header, a row per tier then the total, and the note, exactly
    assert body.startswith("<style>body{font-family:sans-serif;margin:1.5rem}table{border-collapse:collapse}th,td{")
    assert (
        "<p>Fix</p><p>Status <strong>published</strong>; published 2026-01-01T00:00:00Z. First download 40 s after "
        "publishing.</p>" in body
    )
    head = "".join(
        f"<th scope='col'>{c}</th>"
        for c in ("tier", "subscribers notified", "failed", "skipped", "suppressed", "on-call copies", "CSM copies",
                  "downloads", "downloaders", "recalled", "time to notice p50 / p95 / max")
    )  # fmt: skip
    elite = "<td>3</td><td>1</td>" + "<td>0</td>" * 7 + "<td>2 s / 5 s / 8 s</td>"
    total = "<td>3</td><td>1</td>" + "<td>0</td>" * 4 + "<td>2</td><td>0</td><td>0</td><td>– / – / –</td>"
    assert (
        f"<table><thead><tr>{head}</tr></thead><tbody><tr><th scope='row'>elite</th>{elite}</tr>"
        f"<tr><th scope='row'>total</th>{total}</tr></tbody></table><p><small>Times: whole seconds.</small></p>"
    ) in body
    assert body.endswith("</small></p>")  # no failed batch: no list


def test_a_release_not_yet_published_nor_downloaded_says_so_and_failed_batches_are_listed_in_order() -> None:
    from tests.domain.world import release

    report = {"tiers": {}, "totals": {}, "failed_batches": [{"batch_id": "b1", "error": "x"}, {"batch_id": "b2"}, {}]}
    _title, body = report_page.render(release(status="scheduled", published_at=None), report)
    assert "Status <strong>scheduled</strong>; published not yet. First download – after publishing." in body
    assert "<p><small>Times: .</small></p>" in body
    assert body.endswith(
        "<h2>Batches given up</h2><ul><li><code>b1</code>: x</li><li><code>b2</code>: </li>"
        "<li><code></code>: </li></ul>"
    )


def test_the_chart_draws_log_time_across_and_cumulative_counts_up_with_axes_ticks_and_legend() -> None:
    # GIVEN elite: 2 accepted within 1 s and 2 more at 60 s; premium: 1 at 9 s; a tier the matrix lacks: 1 at 3 s
    svg = report_page.chart({"gold": {3: 1}, "premium": {9: 1}, "elite": {1: 2, 60: 2}})
    left, right, base, top = 56, 640 - 110, 280 - 36, 12

    def x(seconds: float) -> str:
        return f"{left + (right - left) * math.log10(seconds + 1) / math.log10(60 + 1):.1f}"

    def y(count: int) -> str:
        return f"{base - (base - top) * count / 4:.1f}"

    # THEN each line starts at the origin and climbs to its total, the matrix's tiers in rank order, others last
    assert re.findall(r"points='([^']*)'><title>(\w+): (\d+) accepted", svg) == [
        (f"{x(0)},{y(0)} {x(1)},{y(2)} {x(60)},{y(4)}", "elite", "4"),
        (f"{x(0)},{y(0)} {x(9)},{y(1)}", "premium", "1"),
        (f"{x(0)},{y(0)} {x(3)},{y(1)}", "gold", "1"),
    ]
    assert "<polyline fill='none' stroke='#7b2cbf' stroke-width='2' points=" in svg
    for n, (tier, colour, total) in enumerate(
        (("elite", "#7b2cbf", 4), ("premium", "#1d70b8", 1), ("gold", "#555", 1))
    ):
        assert (
            f"<rect x='540' y='{top + 14 * n}' width='10' height='10' fill='{colour}'/>"
            f"<text x='554' y='{top + 14 * n + 9}' font-size='12'>{tier} ({total})</text>"
        ) in svg
    # AND the axes, a tick per time up to the longest (60 s: 1 min, not 10 min), and counts 0, half and most
    assert f"<line x1='{left}' y1='{base}' x2='{right}' y2='{base}' stroke='#333'/>" in svg
    assert f"<line x1='{left}' y1='{top}' x2='{left}' y2='{base}' stroke='#333'/>" in svg
    assert re.findall(r"text-anchor='middle'>([^<]+)</text>", svg) == [
        "1 s",
        "10 s",
        "1 min",
        "time since publishing (log scale)",
    ]
    for seconds, label in ((1, "1 s"), (10, "10 s"), (60, "1 min")):
        assert f"<line x1='{x(seconds)}' y1='{base}' x2='{x(seconds)}' y2='{base + 4}' stroke='#333'/>" in svg
        assert f"<text x='{x(seconds)}' y='{base + 16}' font-size='11' text-anchor='middle'>{label}</text>" in svg
    for count in (0, 2, 4):
        y_label = f"{base - (base - top) * count / 4 + 4:.1f}"
        assert f"<text x='{left - 6}' y='{y_label}' font-size='11' text-anchor='end'>{count}</text>" in svg
    assert f"<text x='{(right + left) / 2}' y='276' font-size='11' text-anchor='middle'>time since" in svg


def test_a_chart_of_seconds_spans_at_least_ten_and_an_odd_most_halves_down() -> None:
    svg = report_page.chart({"elite": {3: 3}})
    assert re.findall(r"text-anchor='middle'>(\d+ s)</text>", svg) == ["1 s", "10 s"]
    assert "<text x='530.0' y='260' font-size='11' text-anchor='middle'>10 s</text>" in svg  # 10 s: the right end
    assert re.findall(r"text-anchor='end'>(\d+)</text>", svg) == ["0", "1", "3"]
