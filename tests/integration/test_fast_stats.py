"""`stats` on the DB-API path (ledger/fastread_stats.py) gives the ORM path's numbers exactly
(ledger/rollups.py `statistics`: every field, not to the cent) on random ledgers and windows, on
SQLite and PostgreSQL (#21). Ledgers as test_rollups.py builds them, with live rows in each of
the states that cost differently (PROVISIONING: nothing yet; billed from the cloud's acceptance).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.ledger import fastread, rollups
from provisioner.ledger.fastread_stats import statistics as fast_statistics
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import Instance
from provisioner.rules.catalog import load_catalog
from tests.integration.test_rollups import NOW, _clear, _fill, instance_rows, moments

BILLING = load_catalog().billing


@pytest.fixture
def ledger(tmp_path: Path, database: str | None):
    ledger = Ledger(database or f"sqlite:///{tmp_path / 'ledger.db'}")
    yield ledger
    ledger.dispose()


def _reader(ledger: Ledger) -> fastread.Reader:
    url = ledger.url.replace("postgresql+psycopg://", "postgresql://")
    reader = fastread.open_reader(url)
    assert reader is not None, "a ledger at the schema head opens on the fast path"
    return reader


def _vary_live_rows(ledger: Ledger, rows: list[dict[str, Any]]) -> None:
    """Some live rows still PROVISIONING (no VM: cost 0), some billed from a later acceptance."""
    table = Instance.__table__  # type: ignore[attr-defined]
    with ledger.engine.begin() as conn:
        for i, row in enumerate(rows):
            if row["ending"] != "live":
                continue
            if row["seconds"] % 3 == 0:
                conn.execute(
                    sa.update(table)
                    .where(table.c.id == f"inst-{i:06d}")
                    .values(status="PROVISIONING")
                )
            elif row["seconds"] % 3 == 1:
                created = conn.execute(
                    sa.select(Instance.created_at).where(Instance.id == f"inst-{i:06d}")
                ).scalar_one()
                accepted = created + timedelta(seconds=row["seconds"] % 977)
                conn.execute(
                    sa.update(table)
                    .where(table.c.id == f"inst-{i:06d}")
                    .values(billed_from=accepted)
                )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=instance_rows, since=moments, until=moments, user=st.sampled_from([None, "ann"]))
def test_fast_statistics_equal_the_orm_path(ledger, rows, since, until, user):
    _clear(ledger)
    _fill(ledger, rows)
    _vary_live_rows(ledger, rows)
    window = {"since": since, "until": until, "user_id": user, "now": NOW, "billing": BILLING}
    orm = rollups.statistics(ledger.engine, **window)
    with _reader(ledger) as reader:
        fast = fast_statistics(reader, **window)
    assert fast == orm


def test_a_ledger_behind_the_schema_head_is_left_to_the_orm_path(ledger):
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    url = ledger.url.replace("postgresql+psycopg://", "postgresql://")
    assert fastread.open_reader(url) is None
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE alembic_version SET version_num = '{fastread.head_revision()}'")
        )


def test_the_fast_path_knows_the_schema_head():
    from provisioner.ledger.ledger import SCHEMA_HEAD

    assert fastread.head_revision() == SCHEMA_HEAD
