"""The report page's chart: cumulative lines per tier on a log time axis, drawn without script."""

from __future__ import annotations

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
