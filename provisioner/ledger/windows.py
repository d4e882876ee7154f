"""Statistics' windows and sums without SQLAlchemy (#21): how a window splits into whole days
(daily rollups), whole hours (hourly rollups) and the rows read one by one, and the sum of the
parts. Shared by rollups.py (the ORM path) and fastread_stats.py (the read commands' DB-API
path), so both cut a window the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from provisioner.rules.costs import round_money


def epoch_hour(moment: datetime) -> int:
    return int(moment.timestamp()) // 3600


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


def hour_parts(
    start: datetime | None, end: datetime | None
) -> tuple[tuple[int, int] | None, list[tuple[datetime | None, datetime | None]]]:
    """Split a partial-day range [start, end) into whole hours [first, last) (epoch hours) served
    by the hourly rollups, and the sub-hour ends whose rows are read."""
    if start is None or end is None:
        return None, [(start, end)]
    first, last = -(-int(start.timestamp()) // 3600), epoch_hour(end)
    if first >= last:
        return None, [(start, end)]
    rows: list[tuple[datetime | None, datetime | None]] = []
    if start.timestamp() < first * 3600:
        rows.append((start, datetime.fromtimestamp(first * 3600, UTC)))
    if last * 3600 < end.timestamp():
        rows.append((datetime.fromtimestamp(last * 3600, UTC), end))
    return (first, last), rows


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
