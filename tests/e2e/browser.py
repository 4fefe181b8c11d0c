"""A real Chromium for the console's tests: Debian's package, driven by Playwright for Python.

Usage (in a test module)::

    browser = pytest.fixture(scope="module")(chromium)    # skips, saying why, without one
    page = open_page(browser, server.url)                   # blocks anything but the server

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``apt-get install
chromium``) with flags that work headless as root in a container. Playwright is imported only
by the tests that use it, so the rest of the suite runs without it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Route

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> Iterator[Browser]:
    """One browser for a test module (as a module-scoped fixture); skipped with the reason
    when Chromium or Playwright is missing."""
    if CHROMIUM is None:
        pytest.skip("no Chromium: 'apt-get install chromium' to run the console's browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("no Playwright: pip install '.[test]' to run the console's browser tests")
    # launch() gives the browser a fresh temporary profile of its own, removed on close.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    """A page whose every request is recorded; those not to ``origin`` are refused."""

    page: Page
    origin: str
    shots: Path
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Page:
        self.page.goto(self.origin + path)
        return self.page

    def shot(self, name: str, full_page: bool = True) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


def open_page(browser: Browser, origin: str, shots: Path, **context: Any) -> Visit:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, **context)
    ctx.set_default_timeout(20_000)
    visit = Visit(page=ctx.new_page(), origin=origin, shots=shots)

    def only_the_server(route: Route) -> None:
        url = route.request.url
        visit.requests.append(url)
        if url == origin or url.startswith(origin + "/") or url.startswith("data:"):
            route.continue_()
        else:
            visit.refused.append(url)
            route.abort()

    ctx.route("**/*", only_the_server)
    visit.page.on("pageerror", lambda exc: visit.errors.append(str(exc)))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            visit.console_errors.append(message.text)

    visit.page.on("console", console)
    return visit
