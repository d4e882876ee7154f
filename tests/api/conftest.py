"""API fixtures: the real app over the real service (simulated engine, real SQLite), tokens."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from apiclient import Api, build_api, free_port
from fastapi import FastAPI

from provisioner.asgi import create_app
from provisioner.config import Settings
from provisioner.ops.service import Provisioner


@pytest.fixture
def api(service: Provisioner) -> Iterator[Api]:
    """The app over the fixture service (FakeClock: time moves only when a test says)."""
    yield from build_api(service)


@pytest.fixture
def make_api(settings: Settings) -> Iterator[Callable[..., Api]]:
    """An app with changed settings (failures, delay, parallelism) on the real clock."""
    stack: list[Iterator[Api]] = []

    def make(service: Provisioner | None = None, **changes: Any) -> Api:
        if service is None:
            service = Provisioner(settings.model_copy(update=changes))
        gen = build_api(service, **changes.pop("app_options", {}))
        stack.append(gen)
        return next(gen)

    yield make
    for gen in reversed(stack):
        for _ in gen:  # runs the TestClient's exit (lifespan shutdown)
            pass


@pytest.fixture
def live_server(service: Provisioner) -> Iterator[tuple[str, FastAPI]]:
    """The app under a real uvicorn on 127.0.0.1 (for SSE: TestClient buffers streams)."""
    app = create_app(service.settings, service=service)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(30)
