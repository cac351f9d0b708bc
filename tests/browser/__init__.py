"""Browser tests: the real app on a live server, driven in headless Chromium (pytest-playwright).

Helpers for the tests live here; the fixtures are in ``conftest.py``."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def snap(page: Page, name: str) -> Path:
    """Save a full-page PNG of the page as test-artifacts/screenshots/<name>.png (kept after the run,
    git-ignored); returns its path."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", name):
        raise ValueError(f"screenshot name {name!r}: use lower-case letters, digits, '_', '.', '-'")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
