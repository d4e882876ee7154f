"""A pool's demand history (#23): the hourly rollup, computed from the pool's job rows.

Pure: job times in, hours out. The rollup is computed from the jobs table on demand rather than
kept in a table of its own: it is then exact by construction (a job requeued, cancelled or ended
late changes its hours without a second write to keep in step) and fast enough (4 weeks of a
busy pool, ~20k jobs, is one indexed read and a linear pass; bench/forecast_replay.py prints it).

Per hour (UTC, the ledger's clock):
- `peak`: the most jobs in the pool at once (queued or running: each one wants a VM);
- `arrivals`: jobs submitted in that hour;
- `wait_p50/p90`: seconds from submit to start of the jobs submitted in that hour that started;
- `cold_p50/p90`: seconds from launch to READY of the pool's instances launched in that hour.
Percentiles are nearest-rank over that hour's rows (no interpolation: every figure is a real
sample).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
WEEK_HOURS = 168


@dataclass(frozen=True)
class JobTimes:
    submitted: datetime
    started: datetime | None  # None: never started (still queued, or cancelled in the queue)
    ended: datetime | None  # None: still queued or running at the end of the window


@dataclass(frozen=True)
class HourStats:
    start: datetime
    peak: int = 0
    arrivals: int = 0
    wait_p50: float | None = None
    wait_p90: float | None = None
    cold_p50: float | None = None
    cold_p90: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "hour": self.start.isoformat().replace("+00:00", "Z"),
            "peak": self.peak,
            "arrivals": self.arrivals,
            "waitP50": self.wait_p50,
            "waitP90": self.wait_p90,
            "coldStartP50": self.cold_p50,
            "coldStartP90": self.cold_p90,
        }


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def floor_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def hour_of_week(at: datetime) -> int:
    """0 = Monday 00:00-01:00 UTC ... 167 = Sunday 23:00."""
    return at.weekday() * 24 + at.hour


def hourly(
    jobs: Iterable[JobTimes],
    start: datetime,
    end: datetime,
    *,
    cold_starts: Iterable[tuple[datetime, float]] = (),
) -> list[HourStats]:
    """One HourStats per hour from floor_hour(start) up to `end` (exclusive); `cold_starts`:
    (launched at, seconds to READY) of the pool's instances."""
    first = floor_hour(start)
    count = max(0, math.ceil((end - first) / HOUR))
    arrivals = [0] * count
    waits: list[list[float]] = [[] for _ in range(count)]
    colds: list[list[float]] = [[] for _ in range(count)]
    # +1 at a job's submit, -1 at its end: a sweep over the sorted changes gives the exact peak.
    changes: list[tuple[datetime, int]] = []

    def index(at: datetime) -> int:
        return int((at - first) // HOUR)

    for job in jobs:
        gone = job.ended if job.ended is not None else end
        if gone <= first or job.submitted >= end:
            continue
        i = index(job.submitted)
        if 0 <= i < count:
            arrivals[i] += 1
            if job.started is not None:
                waits[i].append(max(0.0, (job.started - job.submitted).total_seconds()))
        changes.append((max(job.submitted, first), 1))
        if gone < end:
            changes.append((gone, -1))
    for launched, seconds in cold_starts:
        i = index(launched)
        if 0 <= i < count:
            colds[i].append(seconds)
    peaks = [0] * count
    level = 0
    # Ends before starts at the same instant: a VM freed and taken at once is one VM.
    changes.sort(key=lambda c: (c[0], c[1]))
    for at, delta in changes:
        level += delta
        i = index(at)
        if 0 <= i < count and level > peaks[i]:
            peaks[i] = level
    # An hour with jobs carried over from the one before starts at that level.
    level = 0
    pos = 0
    for i in range(count):
        hour_start = first + i * HOUR
        while pos < len(changes) and changes[pos][0] <= hour_start:
            level += changes[pos][1]
            pos += 1
        peaks[i] = max(peaks[i], level)
    return [
        HourStats(
            first + i * HOUR,
            peaks[i],
            arrivals[i],
            percentile(waits[i], 0.5),
            percentile(waits[i], 0.9),
            percentile(colds[i], 0.5),
            percentile(colds[i], 0.9),
        )
        for i in range(count)
    ]
