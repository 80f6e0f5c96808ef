"""Browser fixtures: one chromium per test module; Mien's page loaded and ready, failing the test on any
uncaught error or console error; a blank page on the server's origin for importing modules directly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from server.runner import LiveServer
from tests.web.browsing import CHROMIUM, CHROMIUM_ARGS, RECORDER, wait_ready


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, mien: LiveServer) -> Iterator[Page]:
    """Mien's page, loaded and ready (session open, head loaded); fails on any uncaught error or console
    error (a failed request, say)."""
    # A modest window: software WebGL renders every frame on the CPU, and each action waits for the page.
    context = browser.new_context(viewport={"width": 960, "height": 600})
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    page.on("console", lambda m: page_errors.append(m.text) if m.type == "error" else None)
    page.add_init_script(RECORDER)
    page.goto(mien.http_url)
    wait_ready(page)
    yield page
    context.close()
    assert page_errors == []


@pytest.fixture
def module_page(browser: Browser, mien: LiveServer) -> Iterator[Page]:
    """A blank page on the server's origin, for importing the client's modules directly."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{mien.http_url}/healthz")
    yield page
    context.close()
