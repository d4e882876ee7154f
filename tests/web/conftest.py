"""Browser fixtures: the real app under uvicorn on 127.0.0.1 (simulated engine, real ledger on
SQLite and PostgreSQL, the real clock), and Debian's chromium driven by Playwright.

Every page a test opens has the network to anything but the app blocked (route interception);
the `tab` fixture fails the test if any such request was attempted, a dialog opened, or the page
broke its Content-Security-Policy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS_ENV, Dashboard, Tab, open_tab, serve

from provisioner.config import Settings
from provisioner.ops.service import Provisioner


@pytest.fixture
def dashboard(settings: Settings) -> Iterator[Dashboard]:
    """`serve --simulate` in-process: each up and destroy takes a second, so a page can watch."""
    service = Provisioner(settings.model_copy(update={"sim_delay": 1.0}))
    yield from serve(service)
    service.ledger.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def tab(browser: Any, dashboard: Dashboard) -> Iterator[Tab]:
    context, opened = open_tab(browser, dashboard.base, viewport={"width": 1200, "height": 900})
    yield opened
    context.close()
    assert opened.blocked == [], "the page asked for something outside the app"
    csp = [e for e in opened.console_errors if "Content Security Policy" in e]
    assert csp == [], "the page broke its own Content-Security-Policy"
    assert opened.dialogs == [], "a dialog opened (a script ran that should not have)"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: the test's own folder, or $PROVISIONER_SCREENSHOTS (the docs')."""
    wanted = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(wanted) if wanted else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
