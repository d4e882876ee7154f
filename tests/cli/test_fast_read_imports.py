"""`list`, `stats` and `show` on a ledger at the schema head import neither the ORM (SQLAlchemy,
SQLModel, the ledger's table classes) nor pydantic, Pulumi, FastAPI or the service (#21): each
runs in its own interpreter, as a user starts it, on a SQLite ledger with rows to show. The test
asserts what was imported, never how long it took (bench/startup.py measures that)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import Instance, InstanceAttempt
from provisioner.ledger.rollups import backfill
from tests.cli.test_lazy_imports import ROOT, RUN, env  # noqa: F401  (env: the fixture)
from tests.integration.test_fast_reads import NOW, _attempts, _ledger_rows

NOT_FOR_A_READ = [
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "typer._adapters",
    "pulumi",
    "fastapi",
    "starlette",
    "provisioner.config",
    "provisioner.ledger.models",
    "provisioner.ledger.ledger",
    "provisioner.ledger.reads",
    "provisioner.ops.service",
    "provisioner.ops.service_core",
    "provisioner.engine.simulated.engine",
    "provisioner.engine.pulumi.engine",
]
ROWS = _ledger_rows()


@pytest.fixture
def filled(env):  # noqa: F811
    ledger = Ledger(f"sqlite:///{env['PROVISIONER_HOME']}/ledger.db")
    with ledger.engine.begin() as conn:
        conn.execute(sa.insert(Instance.__table__), ROWS)  # type: ignore[attr-defined]
        conn.execute(sa.insert(InstanceAttempt.__table__), _attempts(ROWS))  # type: ignore[attr-defined]
        backfill(conn, NOW)
    ledger.dispose()
    return env


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["list", "--json", "--limit", "3"],
        ["list", "--all", "--json"],
        ["stats"],
        ["stats", "--json", "--since", "2026-11-01", "--until", "2026-11-30T10:00Z"],
        ["show", ROWS[0]["id"]],
        ["show", ROWS[2]["id"], "--json"],
    ],
)
def test_read_commands_import_no_orm_and_no_service(filled, args):
    out = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(args), json.dumps(NOT_FOR_A_READ)],
        capture_output=True,
        text=True,
        env=filled,
        cwd=ROOT,
        check=False,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result == {"code": 0, "loaded": []}, out.stdout + out.stderr
    shown = "instances provisioned   5" if args == ["stats"] else "inst-00000000000"
    assert shown in out.stdout or "--since" in args, out.stdout  # the rows were read
