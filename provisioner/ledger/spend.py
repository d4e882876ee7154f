"""Spend in SQL: the cost of instances as aggregate queries over the ledger (#5).

An ended instance's cost is the one frozen in the ledger when it ended (`compute_cost`,
`storage_cost`, billed per the provider's granularity). A live one (no `terminatedAt`) costs what
it has been billed so far: the same rule (`rules/billing.py`: the provider's granularity, rounding
and minimum) applied from the cloud's acceptance of its VM (`billed_from`) to now, nothing while
no VM exists (PROVISIONING), so `list`, `show`, `stats`, `cost-report` and budgets
give one figure for it. Spend is attributed to
the UTC day (and month) in which the instance was created: instances live hours, not days, so
this keeps a report's rows and a budget's periods exact sums of whole instances.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, col

from provisioner.ledger.models import Instance, UTCDateTime
from provisioner.rules.billing import SECONDS_PER_MONTH, default_billing
from provisioner.rules.costs import round_money

GROUPS = ("user", "provider", "type", "day")


class HasEngine(Protocol):
    """What the spend queries need of a ledger: its SQLAlchemy engine. (The ledger imports this
    module for its cost expressions, so this one does not import the ledger.)"""

    @property
    def engine(self) -> sa.Engine: ...


@dataclass(frozen=True)
class SpendRow:
    key: tuple[str, ...]
    instances: int
    compute: Decimal
    storage: Decimal

    @property
    def total(self) -> Decimal:
        return self.compute + self.storage


def seconds_alive(dialect: str, now: datetime, start: Any = None) -> sa.ColumnElement[Any]:
    """Seconds from created_at (or `start`) to terminated_at (or now), in this database's SQL."""
    end = sa.func.coalesce(col(Instance.terminated_at), sa.literal(now, UTCDateTime()))
    begin = col(Instance.created_at) if start is None else start
    if dialect == "sqlite":
        return (sa.func.julianday(end) - sa.func.julianday(begin)) * 86400.0
    return sa.func.extract("epoch", end - begin)


def seconds_billed(dialect: str, now: datetime) -> sa.ColumnElement[Any]:
    """Seconds from the cloud's acceptance of the VM (billed_from; createdAt on rows made before
    it was recorded) to terminated_at (or now)."""
    start = sa.func.coalesce(col(Instance.billed_from), col(Instance.created_at))
    return seconds_alive(dialect, now, start)


BillingRules = Mapping[str, Mapping[str, Any]]


def _floor(dialect: str, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    if dialect == "sqlite":  # no floor() in every SQLite build; value is never negative here
        return sa.cast(value, sa.Integer)
    return sa.func.floor(value)


def _ceil(dialect: str, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    if dialect == "sqlite":
        whole = sa.cast(value, sa.Integer)
        return whole + sa.case((value > whole, 1), else_=0)
    return sa.func.ceil(value)


def billed_seconds_sql(
    dialect: str, seconds: sa.ColumnElement[Any], billing: BillingRules
) -> sa.ColumnElement[Any]:
    """`rules.billing.billed_seconds` in SQL: each provider's granularity, rounding and minimum
    applied to `seconds` (rounded to the millisecond first: SQLite's julianday arithmetic is
    floating point, and 59.99999 s must not bill as 59)."""
    exact = sa.func.round(sa.cast(seconds, sa.Numeric(20, 6)), 3)
    per_provider = []
    for provider, rule in billing.items():
        step = int(rule["granularitySeconds"])
        minimum = int(rule["minimumSeconds"])
        steps = exact / step
        whole = (_ceil if rule["rounding"] == "up" else _floor)(dialect, steps) * step
        billed = sa.case((whole < minimum, minimum), else_=whole)
        per_provider.append((col(Instance.provider) == provider, billed))
    billed_any = sa.case(*per_provider, else_=exact) if per_provider else exact
    return sa.case((exact <= 0, 0), else_=billed_any)


def cost_expressions(
    dialect: str, now: datetime, billing: BillingRules | None = None, *, accepted: bool = True
) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
    """SQL for (compute, storage) cost of each row: frozen when ended; billed so far, per the
    provider's rule, if live. Compute includes the VM's public IPv4 address (#24).
    `billing` is the catalog's `billing` section (default: packaged)."""
    if billing is None:
        billing = default_billing()
    # `accepted=False`: a schema before billed_from (migration 0009's backfill) bills as it did.
    alive = seconds_billed(dialect, now) if accepted else seconds_alive(dialect, now)
    seconds = billed_seconds_sql(dialect, alive, billing)
    # A live row still PROVISIONING has no VM yet (the cloud has accepted none): it costs 0.
    seconds = sa.case((col(Instance.status) == "PROVISIONING", 0), else_=seconds)
    live = col(Instance.terminated_at).is_(None)
    linear_compute = col(Instance.cost_per_hour) * seconds / 3600.0
    # The public IPv4 address (#24) bills over the VM's seconds; sums count it with compute.
    # (`accepted=False`: that schema has no column for it either.)
    ipv4_live: Any = 0.0
    ipv4_ended: Any = 0
    if accepted:
        ipv4_live = sa.func.coalesce(col(Instance.public_ip_price_per_hour), 0) * seconds / 3600.0
        ipv4_ended = sa.func.coalesce(col(Instance.public_ip_cost), 0)
    linear_storage = (
        sa.func.coalesce(col(Instance.storage_price_gb_month), 0)
        * col(Instance.disk_size_gb)
        * seconds
        / float(SECONDS_PER_MONTH)
    )
    # Rows ended before the cost split existed froze only total_cost: all of it is compute.
    compute = sa.case(
        (live, linear_compute + ipv4_live),
        else_=sa.func.coalesce(col(Instance.compute_cost), col(Instance.total_cost), linear_compute)
        + ipv4_ended,
    )
    storage = sa.case(
        (live, linear_storage),
        else_=sa.func.coalesce(col(Instance.storage_cost), 0),
    )
    return compute, storage


def day_of(ledger: HasEngine, column: Any) -> sa.ColumnElement[str]:
    """The UTC calendar day (YYYY-MM-DD) of a timestamp column, in this database's SQL."""
    if ledger.engine.dialect.name == "sqlite":
        return sa.func.strftime("%Y-%m-%d", column)
    return sa.func.to_char(column, "YYYY-MM-DD")


def in_window(query: Any, since: datetime | None, until: datetime | None) -> Any:
    """Instances created in [since, until)."""
    if since is not None:
        query = query.where(col(Instance.created_at) >= since)
    if until is not None:
        query = query.where(col(Instance.created_at) < until)
    return query


def _money(value: Any) -> Decimal:
    return round_money(Decimal(str(value or 0)))


def spend_by(
    ledger: HasEngine,
    *,
    now: datetime,
    group: tuple[str, ...],
    since: datetime | None = None,
    until: datetime | None = None,
    user_id: str | None = None,
    billing: BillingRules | None = None,
) -> list[SpendRow]:
    """Instances, compute and storage spend grouped by any of user, provider, type, day."""
    columns: dict[str, Any] = {
        "user": col(Instance.user_id),
        "provider": col(Instance.provider),
        "type": col(Instance.instance_type),
        "day": day_of(ledger, col(Instance.created_at)),
    }
    unknown = [g for g in group if g not in columns]
    if unknown:
        raise ValueError(f"cannot group spend by {unknown[0]!r}; one of {', '.join(GROUPS)}")
    keys = [columns[g].label(f"k{i}") for i, g in enumerate(group)]
    compute, storage = cost_expressions(ledger.engine.dialect.name, now, billing)
    query = sa.select(*keys, sa.func.count(), sa.func.sum(compute), sa.func.sum(storage))
    query = in_window(query.select_from(Instance), since, until)
    if user_id is not None:
        query = query.where(col(Instance.user_id) == user_id)
    if keys:
        query = query.group_by(*keys)
    with Session(ledger.engine) as session:
        rows = session.execute(query).all()
    return [
        SpendRow(
            key=tuple(str(v) for v in row[: len(keys)]),
            instances=int(row[len(keys)] or 0),
            compute=_money(row[len(keys) + 1]),
            storage=_money(row[len(keys) + 2]),
        )
        for row in rows
        if row[len(keys)]
    ]


def user_spend(
    ledger: HasEngine, user_id: str, *, now: datetime, since: datetime, until: datetime
) -> Decimal:
    """What `user_id` spent on instances created in [since, until)."""
    rows = spend_by(ledger, now=now, group=(), since=since, until=until, user_id=user_id)
    return rows[0].total if rows else Decimal(0)


def live_instances(ledger: HasEngine, user_id: str) -> int:
    """The user's instances that may still hold resources (no terminatedAt)."""
    query = (
        sa.select(sa.func.count())
        .select_from(Instance)
        .where(col(Instance.user_id) == user_id)
        .where(col(Instance.terminated_at).is_(None))
    )
    with Session(ledger.engine) as session:
        return int(session.execute(query).scalar() or 0)
