"""A pool's warm schedule fitted from its demand history (#23). Pure: hours in, schedule out.

The schedule is 168 warm minimums, one per hour of the week (UTC; 0 = Monday 00:00). Each is
the p90 (nearest rank) of that hour's peak demand (rules/demand.py) over the past weeks,
clipped to the pool's max: in 9 weeks of 10 that hour needed no more VMs than that. It is
applied early by the pool's measured p90 cold start (`lead`): the floor at time t is the larger
of the hour of t and the hour of t + lead, so VMs are READY when the hour starts.

A floor only ever raises the pool's `--min` (rules/scaling.py `decide(floor=)`): a forecast never
scales in. With under `MIN_HISTORY` of history nothing is proposed.

A day is flagged when its demand departs far from the schedule: its VM-hours of peak demand
(sum of the 24 hourly peaks) above 1.5x the schedule's VM-hours for that day plus 2, or below
half of it minus 2 (the slack keeps a quiet pool's one-job days from being flagged).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from provisioner.rules.demand import HOUR, WEEK_HOURS, HourStats, hour_of_week, percentile

MIN_HISTORY = timedelta(days=3)
PERCENTILE = 0.9


@dataclass(frozen=True)
class Schedule:
    hours: tuple[int, ...]  # 168 warm minimums
    lead_seconds: int  # applied this early

    def floor_at(self, at: datetime) -> int:
        ahead = at + timedelta(seconds=self.lead_seconds)
        return max(self.hours[hour_of_week(at)], self.hours[hour_of_week(ahead)])

    def changes(self, start: datetime, end: datetime) -> list[datetime]:
        """Every instant in [start, end) where floor_at may change: each hour's start and each
        hour's start minus the lead."""
        first = start.replace(minute=0, second=0, microsecond=0)
        lead = timedelta(seconds=self.lead_seconds)
        out: list[datetime] = []
        at = first
        while at < end + lead + HOUR:
            out += [at, at - lead]
            at += HOUR
        return sorted({t for t in out if start <= t < end})

    def to_json(self) -> dict[str, object]:
        return {"hours": list(self.hours), "leadSeconds": self.lead_seconds}


@dataclass(frozen=True)
class DayFlag:
    day: str  # YYYY-MM-DD
    actual: int  # VM-hours of peak demand
    expected: int  # the schedule's VM-hours that day
    direction: str  # above | below

    def text(self) -> str:
        return (
            f"{self.day}: demand {self.actual} VM-hours, forecast {self.expected} "
            f"({self.direction} the forecast by far)"
        )


def history_span(hours: Sequence[HourStats]) -> timedelta:
    """From the first hour with a job to the end of the last hour."""
    busy = [h for h in hours if h.arrivals or h.peak]
    if not busy:
        return timedelta(0)
    return hours[-1].start + HOUR - busy[0].start


def too_little(hours: Sequence[HourStats]) -> str | None:
    """Why nothing can be proposed, or None."""
    span = history_span(hours)
    if span >= MIN_HISTORY:
        return None
    days = span.total_seconds() / 86400
    return (
        f"nothing proposed: {days:.1f} days of job history, a forecast needs at least "
        f"{MIN_HISTORY.days} days"
    )


def propose(hours: Sequence[HourStats], *, maximum: int, cold_p90: float) -> Schedule:
    """The schedule from an hourly history (call `too_little` first). Only hours from the
    first job on count: before it, the pool's demand is unknown, not zero."""
    busy = [h for h in hours if h.arrivals or h.peak]
    samples: list[list[float]] = [[] for _ in range(WEEK_HOURS)]
    for h in hours:
        if busy and h.start >= busy[0].start:
            samples[hour_of_week(h.start)].append(h.peak)
    values = tuple(min(maximum, int(percentile(s, PERCENTILE) or 0)) if s else 0 for s in samples)
    return Schedule(values, math.ceil(cold_p90))


def flag_days(hours: Sequence[HourStats], schedule: Schedule) -> list[DayFlag]:
    """The whole days of `hours` whose demand departs far from the schedule."""
    days: dict[str, list[HourStats]] = {}
    for h in hours:
        days.setdefault(h.start.date().isoformat(), []).append(h)
    flags = []
    for day, rows in sorted(days.items()):
        if len(rows) < 24:
            continue
        actual = sum(h.peak for h in rows)
        expected = sum(schedule.hours[hour_of_week(h.start)] for h in rows)
        if actual > 1.5 * expected + 2:
            flags.append(DayFlag(day, actual, expected, "above"))
        elif actual < 0.5 * expected - 2:
            flags.append(DayFlag(day, actual, expected, "below"))
    return flags


def hour_label(index: int) -> str:
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    return f"{days[index // 24]} {index % 24:02d}"


def summarize(schedule: Schedule) -> list[str]:
    """One line per day with warm hours: 'Mon 09-18: 7 8 11 8 7 9 8 7 4' (first to last
    non-zero hour, one value per hour)."""
    lines = []
    for day in range(7):
        row = schedule.hours[day * 24 : day * 24 + 24]
        warm = [h for h in range(24) if row[h]]
        if warm:
            first, last = warm[0], warm[-1]
            values = " ".join(str(v) for v in row[first : last + 1])
            lines.append(f"{hour_label(day * 24 + first)}-{last + 1:02d}: {values}")
    return lines


LULL = timedelta(hours=2)  # a longer gap between arrivals is a night or weekend, not a pause


def suggest_idle_minutes(arrivals: Sequence[datetime]) -> tuple[int, int] | None:
    """(minutes, gaps counted): the p90 of the gaps between consecutive arrivals, rounded up,
    leaving out lulls (>= 2 h): an idle VM kept that long is still there for 9 in 10 next jobs
    of a busy stretch. None with under 10 gaps."""
    ordered = sorted(arrivals)
    gaps = [(b - a).total_seconds() for a, b in pairwise(ordered) if b - a < LULL]
    if len(gaps) < 10:
        return None
    p90 = percentile(gaps, 0.9) or 0.0
    return max(1, math.ceil(p90 / 60)), len(gaps)
