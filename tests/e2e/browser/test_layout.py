"""The portal on a phone and on a desktop, in a real browser: at 390 and 1280 px every page is one column with
no sideways scroll, and every Download on the fixes page lies inside the viewport."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from patchcast_tools.browser import sign_in
from patchcast_tools.local.stack import LocalStack
from tests.e2e.browser.test_portal import _publish

pytestmark = pytest.mark.e2e

WIDTHS = {"phone": (390, 844), "desktop": (1280, 800)}
PAGES = ("/portal", "/portal/alerts", "/portal/fixes")
# How far the document reaches past the viewport's right edge (0: nothing to scroll to sideways), and the
# elements that scroll sideways inside it (a wide table in an overflow box scrolls there, not the page).
_OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
_INNER = """() => [...document.querySelectorAll('body *')].filter(e => e.scrollWidth > e.clientWidth + 1
  && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)).map(e => e.tagName + '.' + e.className)"""
_DOWNLOADS = """() => [...document.querySelectorAll('a.button')].filter(a => a.textContent.trim() === 'Download')
  .map(a => { const r = a.getBoundingClientRect(); return {left: r.left, right: r.right, width: r.width}; })"""


@pytest.fixture(scope="module")
def published(stack: LocalStack) -> str:
    return _publish(stack, b"ledger fix " * 1000)


@pytest.fixture(params=sorted(WIDTHS))
def sized(request: pytest.FixtureRequest, browser: Any, stack: LocalStack, published: str) -> Iterator[Any]:
    width, height = WIDTHS[request.param]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in(page, stack.api_url, "globex", "it@globex.example", demo=True)
    yield page
    context.close()


def test_no_page_scrolls_sideways(sized: Any, stack: LocalStack) -> None:
    for path in PAGES:
        sized.goto(f"{stack.api_url}{path}")
        assert sized.evaluate(_OVERFLOW) <= 0, f"{path} at {sized.viewport_size['width']} px scrolls sideways"
        assert sized.evaluate(_INNER) == [], f"{path} at {sized.viewport_size['width']} px has a part that does"


def test_every_download_lies_inside_the_viewport(sized: Any, stack: LocalStack, published: str) -> None:
    sized.goto(f"{stack.api_url}/portal/fixes")
    downloads = sized.evaluate(_DOWNLOADS)
    assert downloads, "no Download on the fixes page"
    width = sized.viewport_size["width"]
    assert all(d["width"] > 0 and d["left"] >= 0 and d["right"] <= width for d in downloads), downloads
    # AND the newest release is on the page, its caption whole (not cut)
    assert published in sized.content()
    assert sized.locator("caption").evaluate("c => c.scrollWidth <= c.clientWidth")
