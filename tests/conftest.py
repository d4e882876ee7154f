"""Shared fixtures: a fake clock (the only thing we fake), settings in a tmp home, the service on
the simulated engine, and a real ledger: SQLite, and PostgreSQL too where one is configured.

The ledger, service, reaper and API tests (tests/integration, tests/api) run once per database
through the `database` parameter. PostgreSQL runs when PROVISIONER_TEST_POSTGRES_URL names a
server (`.ci/run` starts one); without it those cases are skipped with that reason. Each test
worker gets its own schema, migrated once; each test starts from empty tables (TRUNCATE).

PROVISIONER_TEST_DATE_SHIFT_DAYS=N moves every wall clock the tests see N days ahead: this
process's at once (time-machine, ticking; the monotonic clock is left alone), and every Python
subprocess's through tests/clockshift/sitecustomize.py, put on PYTHONPATH here. `.ci/run` runs
the suite once as is and once shifted by a year, so no test can depend on today's date.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import POSTGRES_ENV, postgres_base_url, with_search_path
from factories import FakeClock
from sqlmodel import SQLModel

from provisioner.config import Settings
from provisioner.engine.simulated import sshd as sim_sshd
from provisioner.ledger.ledger import Ledger
from provisioner.ops.service import Provisioner

sys.path.insert(0, str(Path(__file__).parent / "clockshift"))
import clockshift_travel


def pytest_configure(config: pytest.Config) -> None:
    value = os.environ.get(clockshift_travel.ENV)
    if not clockshift_travel.shift_days(value):
        return
    clockshift_travel.start_shift(value)
    paths = [str(clockshift_travel.DIRECTORY), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)


def pytest_report_header(config: pytest.Config) -> str | None:
    days = clockshift_travel.shift_days(os.environ.get(clockshift_travel.ENV))
    return f"wall clock shifted {days} days ahead ({clockshift_travel.ENV})" if days else None


BOTH_DATABASES = ("tests/integration/", "tests/api/", "tests/hardening/", "tests/web/")
POSTGRES_ONLY = ("tests/replicas/",)  # several `serve` processes share a server's ledger
NO_POSTGRES = (
    f"PostgreSQL not configured: set {POSTGRES_ENV}=postgresql://user:pass@host/db "
    "(.ci/run does) to run the PostgreSQL half of the suite"
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The database-backed tests run on both databases; the rest on SQLite only."""
    if "database" not in metafunc.fixturenames:
        return
    path = metafunc.definition.path.as_posix()
    if any(part in path for part in BOTH_DATABASES):
        metafunc.parametrize("database", ["sqlite", "postgresql"], indirect=True)
    elif any(part in path for part in POSTGRES_ONLY):
        metafunc.parametrize("database", ["postgresql"], indirect=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """This test worker's own schema on the configured server, migrated from empty once."""
    base = postgres_base_url()
    if not base:
        pytest.skip(NO_POSTGRES)
    schema = "test_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
    admin = Ledger(Settings(database_url=base).effective_database_url, migrate=False)
    with admin.engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    url = with_search_path(Settings(database_url=base).effective_database_url, schema)
    Ledger(url).dispose()  # the migrations, from an empty schema
    yield url


def _truncate(url: str) -> None:
    ledger = Ledger(url, migrate=False)
    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    with ledger.engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    ledger.dispose()


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str | None:
    """The ledger URL for this test: None means the default SQLite file in the home."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    _truncate(url)
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str | None) -> Iterator[Path]:
    """A private data dir, also exported (with the ledger URL) so CLI commands and subprocesses
    use it."""
    home = tmp_path / "home"
    monkeypatch.setenv("PROVISIONER_HOME", str(home))
    monkeypatch.setenv("PROVISIONER_ENGINE", "simulated")
    # The developer's own config.toml and profile never leak into a test (cli/config_file.py).
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PROVISIONER_PROFILE", raising=False)
    for name in (
        "PROVISIONER_DATABASE_URL",
        "PROVISIONER_SIM_FAIL_UP",
        "PROVISIONER_SIM_FAIL_DESTROY",
        "PROVISIONER_SIM_DELAY",
        "PROVISIONER_SIM_CAPACITY",
        "PROVISIONER_SIM_PREEMPT_AFTER",
    ):
        monkeypatch.delenv(name, raising=False)
    if database is not None:
        monkeypatch.setenv("PROVISIONER_DATABASE_URL", database)
    yield home
    # Power off the simulated VMs a test left running (their sshd outlives the test otherwise).
    for folder in sim_sshd.existing(home):
        sim_sshd.stop(folder)


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home, engine="simulated")


@pytest.fixture
def service(settings: Settings, clock: FakeClock) -> Iterator[Provisioner]:
    provisioner = Provisioner(settings, clock=clock)
    yield provisioner
    provisioner.ledger.dispose()
