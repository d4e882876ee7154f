"""Statistics from rollups: per (user, provider, type, creation day) sums of ended instances (#16).

An instance's statistics row is frozen once it ends (terminatedAt set, cost frozen), so each end
adds the row to `spend_rollups` in the same transaction as its terminal transition (see
`Ledger.transition`). Statistics then read: the rollups of the whole UTC days inside the window,
the ended rows of the window's partial first and last days (by the createdAt index), and the
few live rows (by a partial index on terminatedAt IS NULL), costed at read time through
`spend.cost_expressions`. One UNION ALL statement, so the three parts are one snapshot.

The sums are the ones the full scan (`Ledger.statistics_scan`) computes over every row; a property
test compares the two on random ledgers and windows.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col

from provisioner.ledger.models import Instance
from provisioner.ledger.spend import cost_expressions, seconds_alive
from provisioner.rules.costs import round_money

MONEY_SUM = sa.Numeric(18, 6)  # sums of many instances' Numeric(14, 6) costs


class SpendRollup(SQLModel, table=True):
    """Ended instances created on `day` (UTC) by one user on one provider and type."""

    __tablename__ = "spend_rollups"

    user_id: str = Field(primary_key=True, max_length=64)
    provider: str = Field(primary_key=True, max_length=16)
    instance_type: str = Field(primary_key=True, max_length=64)
    day: date = Field(primary_key=True, index=True)
    instances: int
    seconds: float
    compute: Decimal = Field(sa_type=MONEY_SUM)
    storage: Decimal = Field(sa_type=MONEY_SUM)


_live = col(Instance.terminated_at).is_(None)
# Finds the live rows (terminated_at IS NULL sorts together in it) without reading the ended ones.
# A plain index: a partial one's dialect options would load every dialect at import.
LIVE_INDEX = sa.Index(
    "ix_instances_terminated_at",
    Instance.__table__.c.terminated_at,  # type: ignore[attr-defined]
)


def _day_expr(dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "sqlite":
        return sa.func.date(col(Instance.created_at))
    return sa.cast(col(Instance.created_at), sa.Date)


def _rollup_select(dialect: str, now: datetime, *, accepted: bool = True) -> sa.Select[Any]:
    compute, storage = cost_expressions(dialect, now, accepted=accepted)
    return sa.select(
        col(Instance.user_id),
        col(Instance.provider),
        col(Instance.instance_type),
        _day_expr(dialect).label("day"),
        sa.func.count().label("instances"),
        sa.func.sum(seconds_alive(dialect, now)).label("seconds"),
        sa.func.sum(compute).label("compute"),
        sa.func.sum(storage).label("storage"),
    ).where(col(Instance.terminated_at).is_not(None))


def _upsert(dialect: str, select: sa.Select[Any]) -> Any:
    # The dialects' INSERT ... ON CONFLICT, imported when a row ends: reading needs neither.
    insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert
    table = SpendRollup.__table__  # type: ignore[attr-defined]
    statement = insert(table).from_select(
        [
            "user_id",
            "provider",
            "instance_type",
            "day",
            "instances",
            "seconds",
            "compute",
            "storage",
        ],
        select,
    )
    return statement.on_conflict_do_update(
        index_elements=["user_id", "provider", "instance_type", "day"],
        set_={
            name: table.c[name] + statement.excluded[name]
            for name in ("instances", "seconds", "compute", "storage")
        },
    )


def add_ended(dialect: str, instance_id: str, now: datetime) -> Any:
    """The statement that adds one just-ended instance to its rollup (run in its transaction)."""
    select = _rollup_select(dialect, now).where(col(Instance.id) == instance_id)
    group = [col(Instance.user_id), col(Instance.provider), col(Instance.instance_type)]
    return _upsert(dialect, select.group_by(*group, _day_expr(dialect)))


def backfill(conn: sa.Connection, now: datetime, *, accepted: bool = True) -> None:
    """Rebuild every rollup from the ended rows (the migration, and bulk loads in bench/).
    `accepted=False`: for a schema before `billed_from` (migration 0009)."""
    dialect = conn.dialect.name
    conn.execute(sa.delete(SpendRollup.__table__))  # type: ignore[attr-defined]
    select = _rollup_select(dialect, now, accepted=accepted).group_by(
        col(Instance.user_id),
        col(Instance.provider),
        col(Instance.instance_type),
        _day_expr(dialect),
    )
    conn.execute(_upsert(dialect, select))


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def window_parts(
    since: datetime | None, until: datetime | None
) -> tuple[tuple[date | None, date | None] | None, list[tuple[datetime | None, datetime | None]]]:
    """Split [since, until) into whole UTC days [first, last) served by rollups (None when
    there are none) and the partial ranges whose rows are read."""
    since = None if since is None else _utc(since)
    until = None if until is None else _utc(until)
    first = None
    if since is not None:
        first = since.date() if since == _midnight(since.date()) else since.date() + timedelta(1)
    last = None if until is None else until.date()
    if first is not None and last is not None and first >= last:
        return None, [(since, until)]
    partial: list[tuple[datetime | None, datetime | None]] = []
    if since is not None and first is not None and since < _midnight(first):
        partial.append((since, _midnight(first)))
    if until is not None and last is not None and _midnight(last) < until:
        partial.append((_midnight(last), until))
    return (first, last), partial


def statistics(
    engine: sa.Engine,
    *,
    now: datetime,
    user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    billing: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The same dict as `Ledger.statistics_scan`, from rollups plus the partial days and live
    rows."""
    dialect = engine.dialect.name
    # Live rows are costed as everywhere else: billed so far, per the provider's rule (spend.py).
    compute, storage = cost_expressions(dialect, now, billing)
    seconds = seconds_alive(dialect, now)
    days, partial = window_parts(since, until)
    parts: list[Any] = []

    def rows(*where: Any, running: int) -> sa.Select[Any]:
        query = sa.select(
            col(Instance.provider).label("provider"),
            col(Instance.instance_type).label("instance_type"),
            sa.literal(1).label("n"),
            sa.literal(running).label("running"),
            seconds.label("seconds"),
            compute.label("compute"),
            storage.label("storage"),
        ).where(*where)
        return query if user_id is None else query.where(col(Instance.user_id) == user_id)

    if days is not None:
        first, last = days
        rollup: Any = sa.select(
            col(SpendRollup.provider).label("provider"),
            col(SpendRollup.instance_type).label("instance_type"),
            col(SpendRollup.instances).label("n"),
            sa.literal(0).label("running"),
            col(SpendRollup.seconds).label("seconds"),
            col(SpendRollup.compute).label("compute"),
            col(SpendRollup.storage).label("storage"),
        )
        if user_id is not None:
            rollup = rollup.where(col(SpendRollup.user_id) == user_id)
        if first is not None:
            rollup = rollup.where(col(SpendRollup.day) >= first)
        if last is not None:
            rollup = rollup.where(col(SpendRollup.day) < last)
        parts.append(rollup)
    created = col(Instance.created_at)
    for start, end in partial:
        bounds = [created >= start] if start is not None else []
        bounds += [created < end] if end is not None else []
        parts.append(rows(col(Instance.terminated_at).is_not(None), *bounds, running=0))
    window = [created >= since] if since is not None else []
    window += [created < until] if until is not None else []
    parts.append(rows(_live, *window, running=1))
    union = sa.union_all(*parts).subquery()
    query = sa.select(
        union.c.provider,
        union.c.instance_type,
        sa.func.sum(union.c.n),
        sa.func.sum(union.c.running),
        sa.func.sum(union.c.seconds),
        sa.func.sum(union.c.compute),
        sa.func.sum(union.c.storage),
    ).group_by(union.c.provider, union.c.instance_type)
    with engine.connect() as conn:
        groups = conn.execute(query).all()
    return summarize(groups)


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value or 0))


def summarize(groups: Sequence[Any]) -> dict[str, Any]:
    """Rows of (provider, type, count, running, seconds, compute, storage) -> the statistics."""
    count = sum(int(g[2] or 0) for g in groups)
    running = sum(int(g[3] or 0) for g in groups)
    seconds = sum(float(g[4] or 0) for g in groups)
    compute_total = round_money(sum((_decimal(g[5]) for g in groups), Decimal(0)))
    storage_total = round_money(sum((_decimal(g[6]) for g in groups), Decimal(0)))
    total = compute_total + storage_total
    by_provider: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for provider, instance_type, n, *_ in groups:
        if n:
            by_provider[provider] = by_provider.get(provider, 0) + int(n)
            by_type[instance_type] = by_type.get(instance_type, 0) + int(n)
    return {
        "compute_cost": compute_total,
        "storage_cost": storage_total,
        "total_provisioned": count,
        "currently_running": running,
        "total_cost": total,
        "average_duration_hours": round(seconds / count / 3600.0, 4) if count else 0.0,
        "average_cost": round_money(total / count) if count else Decimal(0),
        "provider_breakdown": dict(sorted(by_provider.items())),
        "instance_type_breakdown": dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
