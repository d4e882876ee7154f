"""Statistics from rollups equal the full scan's, to the cent, on random ledgers and windows (#16),
on SQLite and PostgreSQL. Rows end through `Ledger.transition`, the path that keeps the rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import Instance, InstanceEvent
from provisioner.ledger.rollups import (
    SpendRollup,
    SpendRollupHourly,
    backfill,
    hour_parts,
    window_parts,
)
from provisioner.rules.lifecycle import Status

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
HORIZON_MINUTES = 5 * 24 * 60
NOW = DAY0 + timedelta(days=5, hours=3)
TYPES = [("AWS", "g4dn.xlarge", "0.526"), ("AZURE", "Standard_NC6", "0.9"), ("GCP", "g2", "0.7")]


@pytest.fixture
def ledger(tmp_path: Path, database: str | None):
    ledger = Ledger(database or f"sqlite:///{tmp_path / 'ledger.db'}")
    yield ledger
    ledger.dispose()


def _clear(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        for table in (InstanceEvent, SpendRollup, SpendRollupHourly, Instance):
            conn.execute(sa.delete(table.__table__))  # type: ignore[attr-defined]


instance_rows = st.lists(
    st.fixed_dictionaries(
        {
            "user": st.sampled_from(["ann", "bob", "cy"]),
            "type": st.sampled_from(TYPES),
            "created": st.integers(0, HORIZON_MINUTES),
            "seconds": st.integers(0, 9 * 3600),
            "ending": st.sampled_from(["live", "ended", "legacy"]),
            "compute": st.decimals(0, 50, places=6),
            "storage": st.decimals(0, 2, places=6),
            "disk": st.integers(30, 500),
        }
    ),
    max_size=25,
)
moments = st.one_of(
    st.none(),
    st.integers(-1, 6).map(lambda d: DAY0 + timedelta(days=d)),  # midnights
    st.integers(-60, HORIZON_MINUTES + 60).map(lambda m: DAY0 + timedelta(minutes=m)),
)


def _fill(ledger: Ledger, rows: list[dict[str, Any]]) -> None:
    for i, row in enumerate(rows):
        provider, itype, price = row["type"]
        created = DAY0 + timedelta(minutes=row["created"], seconds=i)
        instance = Instance(
            id=f"inst-{i:06d}",
            user_id=row["user"],
            provider=provider,
            instance_type=itype,
            region="r",
            status=Status.READY.value,
            disk_size_gb=row["disk"],
            auto_terminate_minutes=60,
            cost_per_hour=Decimal(price),
            storage_price_gb_month=Decimal("0.08"),
            engine="simulated",
            stack_name=f"inst-{i:06d}",
            created_at=created,
            expires_at=created + timedelta(hours=1),
            hard_deadline=created + timedelta(hours=4),
            updated_at=created,
        )
        ledger.add(instance, event_type="instance:provisioning")
        if row["ending"] == "live":
            continue
        end = created + timedelta(seconds=row["seconds"])
        fields: dict[str, Any] = {"terminated_at": end, "total_cost": row["compute"]}
        if row["ending"] == "ended":  # with the cost split (#5); "legacy" froze only the total
            fields.update(compute_cost=row["compute"], storage_cost=row["storage"])
            fields["total_cost"] = row["compute"] + row["storage"]
        ledger.transition(
            instance.id,
            expected=Status.READY,
            target=Status.TERMINATED,
            at=end,
            event_type="instance:terminated",
            **fields,
        )


def _cents(stats: dict[str, Any]) -> dict[str, Any]:
    out = dict(stats)
    for key in ("compute_cost", "storage_cost", "total_cost", "average_cost"):
        out[key] = Decimal(out[key]).quantize(Decimal("0.01"))
    out.pop("average_duration_hours")
    return out


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=instance_rows, since=moments, until=moments, user=st.sampled_from([None, "ann"]))
def test_rollup_statistics_equal_the_full_scan(ledger, rows, since, until, user):
    _clear(ledger)
    _fill(ledger, rows)
    window = {"since": since, "until": until, "user_id": user, "now": NOW}
    fast, scan = ledger.statistics(**window), ledger.statistics_scan(**window)
    assert _cents(fast) == _cents(scan)
    assert fast["average_duration_hours"] == pytest.approx(scan["average_duration_hours"], abs=2e-4)
    # The migration's backfill rebuilds the same rollups the transitions kept.
    tables = [t.__table__ for t in (SpendRollup, SpendRollupHourly)]  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        kept = [{tuple(r) for r in conn.execute(sa.select(t))} for t in tables]
    with ledger.engine.begin() as conn:
        backfill(conn, NOW)
    assert _cents(ledger.statistics(**window)) == _cents(scan)
    with ledger.engine.connect() as conn:
        rebuilt = [{tuple(r) for r in conn.execute(sa.select(t))} for t in tables]
    for before, after in zip(kept, rebuilt, strict=True):
        assert {r[:5] for r in after} == {r[:5] for r in before}


def test_an_instance_ends_once_in_its_rollup(ledger):
    _fill(ledger, [])
    created = DAY0 + timedelta(
        hours=23, minutes=59
    )  # ends the next day: counted on its creation day
    instance = Instance(
        id="inst-once",
        user_id="ann",
        provider="AWS",
        instance_type="g4dn.xlarge",
        region="r",
        status=Status.STOPPING.value,
        disk_size_gb=50,
        auto_terminate_minutes=60,
        cost_per_hour=Decimal("0.526"),
        engine="simulated",
        stack_name="inst-once",
        created_at=created,
        expires_at=created + timedelta(hours=1),
        hard_deadline=created + timedelta(hours=4),
        updated_at=created,
    )
    ledger.add(instance, event_type="instance:provisioning")
    end = created + timedelta(minutes=10)
    ledger.transition(
        "inst-once",
        expected=Status.STOPPING,
        target=Status.TERMINATED,
        at=end,
        event_type="instance:terminated",
        terminated_at=end,
        compute_cost=Decimal("0.087667"),
        storage_cost=Decimal("0.001"),
        total_cost=Decimal("0.088667"),
    )
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(SpendRollup.__table__)).all()  # type: ignore[attr-defined]
    assert [(r.user_id, str(r.day), r.instances) for r in rows] == [("ann", "2026-03-01", 1)]
    with ledger.engine.connect() as conn:
        hourly = conn.execute(sa.select(SpendRollupHourly.__table__)).all()  # type: ignore[attr-defined]
    assert [(r.user_id, r.hour, r.instances) for r in hourly] == [
        ("ann", int(created.timestamp()) // 3600, 1)
    ]
    assert Decimal(str(rows[0].compute)).quantize(Decimal("0.000001")) == Decimal("0.087667")
    stats = ledger.statistics(now=NOW, since=DAY0, until=DAY0 + timedelta(days=1))
    assert stats["total_provisioned"] == 1 and stats["total_cost"] == Decimal("0.088667")


def test_windows_split_into_whole_days_and_partial_ranges():
    at = DAY0 + timedelta(hours=5)
    days, partial = window_parts(at, at + timedelta(days=2))
    assert days == ((DAY0 + timedelta(days=1)).date(), (DAY0 + timedelta(days=2)).date())
    assert partial == [
        (at, DAY0 + timedelta(days=1)),
        (DAY0 + timedelta(days=2), at + timedelta(days=2)),
    ]
    assert window_parts(DAY0, DAY0 + timedelta(days=1)) == (
        (DAY0.date(), (DAY0 + timedelta(days=1)).date()),
        [],
    )
    assert window_parts(at, at + timedelta(hours=1)) == (None, [(at, at + timedelta(hours=1))])
    assert window_parts(None, None) == ((None, None), [])


def test_partial_days_split_into_whole_hours_and_sub_hour_ends():
    start = DAY0 + timedelta(hours=5, minutes=20)
    end = DAY0 + timedelta(hours=9, minutes=10)
    first = int((DAY0 + timedelta(hours=6)).timestamp()) // 3600
    assert hour_parts(start, end) == (
        (first, first + 3),
        [(start, DAY0 + timedelta(hours=6)), (DAY0 + timedelta(hours=9), end)],
    )
    on_the_hour = DAY0 + timedelta(hours=5)
    assert hour_parts(on_the_hour, on_the_hour + timedelta(hours=2)) == (
        (first - 1, first + 1),
        [],
    )
    inside = (start, start + timedelta(minutes=30))
    assert hour_parts(*inside) == (None, [inside])
