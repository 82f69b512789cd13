"""One Chromium for the whole session (Debian's, driven by Playwright), a fresh context per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from patchcast_tools.browser import launch


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch(pw)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()
