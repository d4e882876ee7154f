"""`provisioner stats` on the DB-API path (#21): the same statement as `rollups.statistics`,
written out in SQL text for SQLite and PostgreSQL.

The parts are the ORM path's: daily rollups for the window's whole days, hourly rollups for the
whole hours of its partial days, the ended rows of the sub-hour ends, and the live rows, each
row costed in SQL exactly as `spend.cost_expressions` does (the same operations in the same
order, so SQLite's floating point gives the same sums). The window is cut by windows.py, the
sums by its `summarize`; a property test compares this with the ORM path on random ledgers and
windows, on both databases.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from provisioner.ledger.fastread import Reader
from provisioner.ledger.windows import hour_parts, summarize, window_parts

SECONDS_PER_MONTH = 730 * 3600  # rules/billing.py: HOURS_PER_MONTH x 3600


def _exact(reader: Reader) -> str:
    """Seconds billed so far, rounded to the millisecond (spend.billed_seconds_sql's `exact`);
    the one placeholder is now."""
    if reader.dialect == "sqlite":
        seconds = (
            "(julianday(coalesce(terminated_at, ?)) - "
            "julianday(coalesce(billed_from, created_at))) * 86400.0"
        )
    else:
        seconds = (
            "EXTRACT(epoch FROM coalesce(terminated_at, ?::TIMESTAMP WITHOUT TIME ZONE) - "
            "coalesce(billed_from, created_at))"
        )
    return f"round(CAST({seconds} AS NUMERIC(20, 6)), 3)"


def _alive(reader: Reader) -> str:
    """Seconds from createdAt to terminatedAt or now (spend.seconds_alive); one placeholder."""
    if reader.dialect == "sqlite":
        return "(julianday(coalesce(terminated_at, ?)) - julianday(created_at)) * 86400.0"
    return (
        "EXTRACT(epoch FROM coalesce(terminated_at, ?::TIMESTAMP WITHOUT TIME ZONE) - created_at)"
    )


def _billed(reader: Reader, billing: Mapping[str, Mapping[str, Any]]) -> str:
    """spend.billed_seconds_sql over the derived column `exact`, with PROVISIONING at 0."""
    sqlite = reader.dialect == "sqlite"
    cases = []
    for provider, rule in billing.items():
        step, minimum = int(rule["granularitySeconds"]), int(rule["minimumSeconds"])
        steps = f"exact / ({step} + 0.0)" if sqlite else f"exact / CAST({step} AS NUMERIC)"
        if sqlite:
            whole = f"CAST({steps} AS INTEGER)"
            if rule["rounding"] == "up":
                whole = f"({whole} + CASE WHEN ({steps} > {whole}) THEN 1 ELSE 0 END)"
        else:
            whole = f"{'ceil' if rule['rounding'] == 'up' else 'floor'}({steps})"
        whole = f"{whole} * {step}"
        quoted = str(provider).replace("'", "''")
        cases.append(
            f"WHEN (provider = '{quoted}') THEN "
            f"CASE WHEN ({whole} < {minimum}) THEN {minimum} ELSE {whole} END"
        )
    billed_any = f"CASE {' '.join(cases)} ELSE exact END" if cases else "exact"
    return (
        "CASE WHEN (status = 'PROVISIONING') THEN 0 ELSE "
        f"CASE WHEN (exact <= 0) THEN 0 ELSE {billed_any} END END"
    )


def _divide(reader: Reader, value: float) -> str:
    return (
        f"({value} + 0.0)" if reader.dialect == "sqlite" else f"CAST({value} AS DOUBLE PRECISION)"
    )


def _rows(
    reader: Reader,
    billing: Mapping[str, Mapping[str, Any]],
    now: Any,
    where: list[str],
    params: list[Any],
    running: int,
) -> tuple[str, list[Any]]:
    """Instances as statistics parts, costed as spend.cost_expressions does."""
    billed = _billed(reader, billing)
    linear_compute = f"(cost_per_hour * {billed}) / {_divide(reader, 3600.0)}"
    linear_storage = (
        f"(coalesce(storage_price_gb_month, 0) * disk_size_gb * {billed}) / "
        f"{_divide(reader, float(SECONDS_PER_MONTH))}"
    )
    # The public IPv4 address (#24) bills over the VM's seconds; sums count it with compute.
    ipv4_live = f"(coalesce(public_ip_price_per_hour, 0) * {billed}) / {_divide(reader, 3600.0)}"
    compute = (
        f"CASE WHEN (terminated_at IS NULL) THEN {linear_compute} + {ipv4_live} "
        f"ELSE coalesce(compute_cost, total_cost, {linear_compute}) "
        "+ coalesce(public_ip_cost, 0) END"
    )
    storage = (
        f"CASE WHEN (terminated_at IS NULL) THEN {linear_storage} "
        "ELSE coalesce(storage_cost, 0) END"
    )
    sql = (
        f"SELECT provider, instance_type, 1 AS n, {running} AS running, seconds, "
        f"{compute} AS compute, {storage} AS storage FROM ("
        f"SELECT provider, instance_type, status, cost_per_hour, storage_price_gb_month, "
        f"disk_size_gb, terminated_at, compute_cost, total_cost, storage_cost, "
        f"public_ip_price_per_hour, public_ip_cost, "
        f"{_alive(reader)} AS seconds, {_exact(reader)} AS exact "
        f"FROM instances WHERE {' AND '.join(where)}) AS costed"
    )
    return sql, [now, now, *params]


def _rolled_up(
    table: str, key: str, first: Any, last: Any, user_id: str | None
) -> tuple[str, list[Any]]:
    where, params = [], []
    if user_id is not None:
        where.append("user_id = ?")
        params.append(user_id)
    if first is not None:
        where.append(f"{key} >= ?")
        params.append(first)
    if last is not None:
        where.append(f"{key} < ?")
        params.append(last)
    sql = (
        "SELECT provider, instance_type, instances AS n, 0 AS running, seconds, compute, "
        f"storage FROM {table}"
    )
    return (sql + (" WHERE " + " AND ".join(where) if where else "")), params


def statistics(
    reader: Reader,
    *,
    now: datetime,
    billing: Mapping[str, Mapping[str, Any]],
    user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The dict `rollups.statistics` returns, read through DB-API."""
    bound_now = reader.bind_moment(now)

    def day(value: date | None) -> Any:
        if value is None or reader.dialect != "sqlite":
            return value
        return value.isoformat()

    def created(start: datetime | None, end: datetime | None) -> tuple[list[str], list[Any]]:
        where, params = [], []
        if start is not None:
            where.append("created_at >= ?")
            params.append(reader.bind_moment(start))
        if end is not None:
            where.append("created_at < ?")
            params.append(reader.bind_moment(end))
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        return where, params

    parts: list[tuple[str, list[Any]]] = []
    days, partial = window_parts(since, until)
    if days is not None:
        parts.append(_rolled_up("spend_rollups", "day", day(days[0]), day(days[1]), user_id))
    row_ranges: list[tuple[datetime | None, datetime | None]] = []
    for start, end in partial:
        hours, ends = hour_parts(start, end)
        row_ranges += ends
        if hours is not None:
            parts.append(_rolled_up("spend_rollups_hourly", "hour", *hours, user_id))
    for start, end in row_ranges:
        where, params = created(start, end)
        parts.append(
            _rows(reader, billing, bound_now, ["terminated_at IS NOT NULL", *where], params, 0)
        )
    where, params = created(since, until)
    parts.append(_rows(reader, billing, bound_now, ["terminated_at IS NULL", *where], params, 1))
    union = " UNION ALL ".join(sql for sql, _ in parts)
    sql = (
        "SELECT provider, instance_type, sum(n), sum(running), sum(seconds), sum(compute), "
        f"sum(storage) FROM ({union}) AS parts GROUP BY provider, instance_type"
    )
    groups = reader.query(sql, [p for _, values in parts for p in values])
    return summarize(
        [(p, t, n, r, s, reader.money(c), reader.money(st)) for p, t, n, r, s, c, st in groups]
    )
