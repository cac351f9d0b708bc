"""Fixtures of the browser tests: Debian's Chromium for pytest-playwright (Playwright's own browser
download is not used), the real app on a live server, and a guard that fails a test on any
JavaScript error or console error in the page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.live_server import serve
from web import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container: no user namespaces for the sandbox
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options (--headed, --slowmo …), with Debian's Chromium."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/ensure_system_packages.sh` (as root)", pytrace=False)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url() -> None:
    """No fixed base URL: ``context`` takes the live server's, a new one per test. (This also replaces
    pytest-playwright 0.10.0's fallback ``base_url`` fixture, a session-scoped fixture defined as an
    instance method, which pytest 9 deprecates with a PytestRemovedIn10Warning — an error here.)"""
    return None


@pytest.fixture()
def live_server(db_engine: Engine, session_factory: sessionmaker[Session]) -> Iterator[str]:
    """The real application on 127.0.0.1 (a free port, threaded), on the test database (emptied
    first, like every test's; request ``published`` etc. for data); yields the base URL, without a
    trailing slash."""
    app = create_app(
        {"DATABASE_URL": db_engine.url.render_as_string(hide_password=False), "SECRET_KEY": "browser-tests"}
    )
    try:
        with serve(app) as base:
            yield base
    finally:
        app.extensions["infora.engine"].dispose()


@pytest.fixture()
def context(live_server: str, new_context: Callable[..., BrowserContext]) -> BrowserContext:
    """pytest-playwright's browser context, with the live server as base URL (``page.goto("/")``).
    The server starts before the context and stops after it is closed, so nothing the page still
    loads at the end of a test (the favicon, say) meets a closed server."""
    return new_context(base_url=live_server)


@pytest.fixture(autouse=True)
def browser_errors(page: Page) -> Iterator[list[str]]:
    """Records console errors and uncaught exceptions of the page; the test fails at teardown if
    there were any. A test that provokes one on purpose asserts on this list and clears it."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location
        errors.append(f"console error: {message.text} ({where.get('url')}:{where.get('lineNumber')})")

    def on_page_error(error: Error) -> None:
        errors.append(f"uncaught exception: {error.stack or f'{error.name}: {error.message}'}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    yield errors
    if not page.is_closed():
        page.evaluate("0")  # a round trip, so that events still in flight are delivered
    if errors:
        pytest.fail("errors in the browser:\n" + "\n".join(errors), pytrace=False)
