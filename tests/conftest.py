"""Shared fixtures: a fake clock (the only thing we fake), settings in a tmp home, the service on
the simulated engine and a real SQLite ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import FakeClock

from provisioner.config import Settings
from provisioner.service import Provisioner


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data dir, also exported so CLI commands and subprocesses use it."""
    home = tmp_path / "home"
    monkeypatch.setenv("PROVISIONER_HOME", str(home))
    monkeypatch.setenv("PROVISIONER_ENGINE", "simulated")
    for name in (
        "PROVISIONER_DATABASE_URL",
        "PROVISIONER_SIM_FAIL_UP",
        "PROVISIONER_SIM_FAIL_DESTROY",
        "PROVISIONER_SIM_DELAY",
    ):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home, engine="simulated")


@pytest.fixture
def service(settings: Settings, clock: FakeClock) -> Iterator[Provisioner]:
    provisioner = Provisioner(settings, clock=clock)
    yield provisioner
    provisioner.ledger.dispose()
