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
