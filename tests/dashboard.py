"""Helpers of the dashboard's browser tests (tests/web): the app under uvicorn on 127.0.0.1, a
browser tab confined to the app, and screenshots small enough to commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from apiclient import free_port

from provisioner.asgi import create_app
from provisioner.ops.service import Provisioner

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS_ENV = "PROVISIONER_SCREENSHOTS"


@dataclass
class Dashboard:
    base: str
    service: Provisioner
    app: Any

    def token(self, user: str, *, admin: bool = False) -> str:
        token, _ = self.app.state.api.tokens.create(user, admin=admin)
        return str(token)


def serve(service: Provisioner) -> Iterator[Dashboard]:
    app = create_app(service.settings, service=service, reaper=False)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield Dashboard(f"http://127.0.0.1:{port}", service, app)
    server.should_exit = True
    thread.join(30)


@dataclass
class Tab:
    """A browser page confined to the app, with what it tried to do outside it."""

    page: Any
    base: str
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, token: str) -> None:
        self.go("/")
        self.page.get_by_label("API token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(self.base + "/")


def open_tab(browser: Any, base: str, **context_options: Any) -> tuple[Any, Tab]:
    """A fresh browser context (its own cookies) whose requests to anything but `base` are
    aborted and recorded, with console errors and dialogs recorded too."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(30_000)
    tab = Tab(page, base)

    def only_the_app(route: Any) -> None:
        url = route.request.url
        if url == base or url.startswith(base + "/"):
            route.continue_()
        else:
            tab.blocked.append(url)
            route.abort()

    def console(message: Any) -> None:
        if message.type == "error":
            tab.console_errors.append(message.text)

    def dialog(opened: Any) -> None:
        tab.dialogs.append(opened.message)
        opened.dismiss()

    context.route("**/*", only_the_app)
    page.on("console", console)
    page.on("dialog", dialog)
    return context, tab


def screenshot(tab: Tab, folder: Path, name: str, *, full_page: bool = True) -> Path:
    """A PNG of the page, reduced to a 64-colour palette."""
    path = folder / f"{name}.png"
    tab.page.screenshot(path=str(path), full_page=full_page)
    from PIL import Image  # matplotlib's dependency

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path
