"""Statistics from rollups: per (user, provider, type, creation day) and per creation hour sums
of ended instances (#16, #21).

An instance's statistics row is frozen once it ends (terminatedAt set, cost frozen), so each end
adds the row to `spend_rollups` (by day) and `spend_rollups_hourly` (by hour since the epoch) in
the same transaction as its terminal transition (see `Ledger.transition`). Statistics then read:
the daily rollups of the whole UTC days inside the window, the hourly rollups of the whole hours
of its partial first and last days, the ended rows of the partial first and last hours (by the
createdAt index), and the few live rows (by an index on terminatedAt), costed at read time
through `spend.cost_expressions`. One UNION ALL statement, so the parts are one snapshot.

The sums are the ones the full scan (`Ledger.statistics_scan`) computes over every row; a property
test compares the two on random ledgers and windows.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col

from provisioner.ledger.models import Instance
from provisioner.ledger.spend import cost_expressions, seconds_alive
from provisioner.ledger.windows import epoch_hour, hour_parts, summarize, window_parts

__all__ = ["epoch_hour", "hour_parts", "summarize", "window_parts"]  # their home: windows.py

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


class SpendRollupHourly(SQLModel, table=True):
    """Ended instances created in `hour` (whole hours since 1970-01-01 UTC) by one user on one
    provider and type: the partial days of a window are read from these, not row by row."""

    __tablename__ = "spend_rollups_hourly"

    user_id: str = Field(primary_key=True, max_length=64)
    provider: str = Field(primary_key=True, max_length=16)
    instance_type: str = Field(primary_key=True, max_length=64)
    hour: int = Field(primary_key=True, index=True)
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


def _hour_expr(dialect: str) -> sa.ColumnElement[Any]:
    """Whole hours since the epoch of created_at (stored as naive UTC on both databases)."""
    created = col(Instance.created_at)
    # A literal, not a bound parameter: PostgreSQL's GROUP BY must repeat the SELECT's expression.
    hour: Any = sa.literal_column("3600")
    if dialect == "sqlite":
        return sa.cast(sa.func.strftime("%s", created), sa.Integer) // hour
    return sa.cast(sa.func.floor(sa.extract("epoch", created) / hour), sa.Integer)


# The two grains: (table, key column, key expression)
GRAINS: dict[str, tuple[Any, str, Any]] = {
    "day": (SpendRollup, "day", _day_expr),
    "hour": (SpendRollupHourly, "hour", _hour_expr),
}


def _rollup_select(
    dialect: str, now: datetime, grain: str = "day", *, accepted: bool = True
) -> sa.Select[Any]:
    compute, storage = cost_expressions(dialect, now, accepted=accepted)
    _, key, key_expr = GRAINS[grain]
    return sa.select(
        col(Instance.user_id),
        col(Instance.provider),
        col(Instance.instance_type),
        key_expr(dialect).label(key),
        sa.func.count().label("instances"),
        sa.func.sum(seconds_alive(dialect, now)).label("seconds"),
        sa.func.sum(compute).label("compute"),
        sa.func.sum(storage).label("storage"),
    ).where(col(Instance.terminated_at).is_not(None))


def _upsert(dialect: str, select: sa.Select[Any], grain: str = "day") -> Any:
    # The dialects' INSERT ... ON CONFLICT, imported when a row ends: reading needs neither.
    insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert
    model, key, _ = GRAINS[grain]
    table = model.__table__
    statement = insert(table).from_select(
        [
            "user_id",
            "provider",
            "instance_type",
            key,
            "instances",
            "seconds",
            "compute",
            "storage",
        ],
        select,
    )
    return statement.on_conflict_do_update(
        index_elements=["user_id", "provider", "instance_type", key],
        set_={
            name: table.c[name] + statement.excluded[name]
            for name in ("instances", "seconds", "compute", "storage")
        },
    )


_GROUP = (col(Instance.user_id), col(Instance.provider), col(Instance.instance_type))


def add_ended(dialect: str, instance_id: str, now: datetime) -> list[Any]:
    """The statements that add one just-ended instance to its daily and hourly rollups (run in
    its transaction)."""
    statements = []
    for grain, (_, _, key_expr) in GRAINS.items():
        select = _rollup_select(dialect, now, grain).where(col(Instance.id) == instance_id)
        statements.append(_upsert(dialect, select.group_by(*_GROUP, key_expr(dialect)), grain))
    return statements


def backfill(
    conn: sa.Connection,
    now: datetime,
    grains: tuple[str, ...] = ("day", "hour"),
    *,
    accepted: bool = True,
) -> None:
    """Rebuild the rollups from the ended rows (the migrations, and bulk loads in bench/).
    `accepted=False`: for a schema before `billed_from` (migrations 0009, 0011)."""
    dialect = conn.dialect.name
    for grain in grains:
        model, _, key_expr = GRAINS[grain]
        conn.execute(sa.delete(model.__table__))
        select = _rollup_select(dialect, now, grain, accepted=accepted).group_by(
            *_GROUP, key_expr(dialect)
        )
        conn.execute(_upsert(dialect, select, grain))


def _rolled_up(grain: str, first: Any, last: Any, user_id: str | None) -> Any:
    """One grain's rollup rows with keys in [first, last) (None: unbounded), as statistics
    parts."""
    model, key, _ = GRAINS[grain]
    column = model.__table__.c
    query: Any = sa.select(
        column.provider.label("provider"),
        column.instance_type.label("instance_type"),
        column.instances.label("n"),
        sa.literal(0).label("running"),
        column.seconds.label("seconds"),
        column.compute.label("compute"),
        column.storage.label("storage"),
    )
    if user_id is not None:
        query = query.where(column.user_id == user_id)
    if first is not None:
        query = query.where(column[key] >= first)
    if last is not None:
        query = query.where(column[key] < last)
    return query


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
        parts.append(_rolled_up("day", first, last, user_id))
    created = col(Instance.created_at)
    row_ranges: list[tuple[datetime | None, datetime | None]] = []
    for start, end in partial:
        hours, ends = hour_parts(start, end)
        row_ranges += ends
        if hours is not None:
            parts.append(_rolled_up("hour", hours[0], hours[1], user_id))
    for start, end in row_ranges:
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
