"""Browser fixtures: one chromium per test module; Mien's page loaded and ready, failing the test on any
uncaught error or console error; a blank page on the server's origin for importing modules directly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from server.runner import LiveServer
from tests.web.browsing import LAUNCH, new_page, open_page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(**LAUNCH)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, mien: LiveServer) -> Iterator[Page]:
    """Mien's page, loaded and ready (session open, head loaded); fails on any uncaught error or console
    error (a failed request, say)."""
    errors: list[str] = []
    page = open_page(browser, mien.http_url, errors=errors)
    yield page
    page.context.close()
    assert errors == []


@pytest.fixture
def module_page(browser: Browser, mien: LiveServer) -> Iterator[Page]:
    """A blank page on the server's origin, for importing the client's modules directly."""
    page = new_page(browser, scripts=())
    page.goto(f"{mien.http_url}/healthz")
    yield page
    page.context.close()
