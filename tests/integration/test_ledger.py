"""The ledger on real SQLite and PostgreSQL: migrations, conditional transitions, SQL statistics."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from databases import with_search_path
from sqlmodel import SQLModel

from provisioner.ledger.ledger import SCHEMA_HEAD, Ledger
from provisioner.ledger.models import Instance
from provisioner.rules.errors import ConflictError
from provisioner.rules.lifecycle import Status

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def make_row(instance_id: str, **overrides) -> Instance:
    fields = dict(
        id=instance_id,
        user_id="user-123",
        task_id="t",
        provider="AWS",
        instance_type="g4dn.xlarge",
        region="us-east-1",
        status="READY",
        disk_size_gb=50,
        auto_terminate_minutes=30,
        cost_per_hour=Decimal("0.526"),
        engine="simulated",
        stack_name=instance_id,
        created_at=T0,
        expires_at=T0 + timedelta(minutes=30),
        hard_deadline=T0 + timedelta(hours=4),
        updated_at=T0,
    )
    fields.update(overrides)
    return Instance(**fields)


@pytest.fixture
def ledger(tmp_path: Path, database: str | None):
    ledger = Ledger(database or f"sqlite:///{tmp_path / 'ledger.db'}")
    yield ledger
    ledger.dispose()


def test_schema_head_constant_matches_the_newest_migration():
    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).parents[2] / "provisioner" / "ledger" / "migrations")
    )
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_migrations_build_exactly_the_models_schema(ledger):
    with ledger.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


@pytest.fixture
def empty_database(tmp_path: Path, database: str | None):
    """A URL to a database with no tables yet: a new SQLite file or a new PostgreSQL schema."""
    if database is None:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    schema = f"fresh_{tmp_path.name.lower().replace('-', '_')[:40]}"
    admin = sa.create_engine(database)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield with_search_path(database.split("?")[0], schema)
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_first_use_migrates_once_even_from_several_threads(empty_database):
    url = empty_database
    errors = []

    def open_ledger():
        try:
            Ledger(url).dispose()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_ledger) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = Ledger(url, migrate=False)
    with check.engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_HEAD
        )
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    check.dispose()
    assert diff == []


def test_transition_is_conditional_so_two_movers_cannot_both_win(ledger):
    ledger.add(make_row("inst-a"), event_type="instance:ready")
    ledger.transition(
        "inst-a",
        expected=Status.READY,
        target=Status.STOPPING,
        at=T0,
        event_type="instance:stopping",
    )
    with pytest.raises(ConflictError, match="is STOPPING, not READY"):
        ledger.transition(
            "inst-a",
            expected=Status.READY,
            target=Status.STOPPING,
            at=T0,
            event_type="instance:stopping",
        )
    assert [e.status for e in ledger.events("inst-a")] == ["READY", "STOPPING"]


def test_times_come_back_as_aware_utc(ledger):
    ledger.add(make_row("inst-a"), event_type="instance:ready")
    row = ledger.require("inst-a")
    assert row.created_at == T0 and row.created_at.tzinfo is not None


def test_statistics_mix_frozen_and_live_costs(ledger):
    ledger.add(
        make_row(
            "done",
            status="TERMINATED",
            terminated_at=T0 + timedelta(minutes=30),
            total_cost=Decimal("0.263"),
        ),
        event_type="x",
    )
    ledger.add(
        make_row(
            "live",
            provider="AZURE",
            instance_type="Standard_NC6",
            cost_per_hour=Decimal("0.9"),
            user_id="other",
        ),
        event_type="x",
    )
    stats = ledger.statistics(now=T0 + timedelta(hours=2))
    assert stats["total_provisioned"] == 2
    assert stats["currently_running"] == 1
    assert stats["total_cost"] == Decimal("2.063000")
    assert stats["average_duration_hours"] == pytest.approx(1.25)
    assert stats["provider_breakdown"] == {"AWS": 1, "AZURE": 1}
    only_other = ledger.statistics(now=T0 + timedelta(hours=2), user_id="other")
    assert only_other["total_provisioned"] == 1 and only_other["total_cost"] == Decimal("1.8")
