"""A generated job history with a weekday working-hours peak (#23): the fixture of the forecast
tests and the input of bench/forecast_replay.py. Pure and seeded: the same seed gives the same
jobs. Not a recording of any real pool.

Weekdays 09:00-17:00 UTC: `peak_rate` jobs an hour (Poisson arrivals); other hours:
`night_rate` (default: none). Run times are exponential around `mean_runtime`, cut to 1-60 min.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from provisioner.rules.demand import HOUR


@dataclass(frozen=True)
class SyntheticJob:
    arrival: datetime
    runtime: timedelta


def weekday_peak(
    start: datetime,
    *,
    weeks: float = 4,
    peak_rate: float = 30.0,
    night_rate: float = 0.0,
    mean_runtime: timedelta = timedelta(minutes=6),
    seed: int = 23,
) -> list[SyntheticJob]:
    """Jobs from `start` (rounded down to its hour) for `weeks` weeks, oldest first."""
    rng = random.Random(seed)
    at = start.replace(minute=0, second=0, microsecond=0)
    end = at + timedelta(weeks=weeks)
    jobs: list[SyntheticJob] = []
    while at < end:
        working = at.weekday() < 5 and 9 <= at.hour < 17
        rate = peak_rate if working else night_rate
        t = 0.0
        while rate > 0:
            t += rng.expovariate(rate)  # hours
            if t >= 1:
                break
            runtime = min(3600.0, max(60.0, rng.expovariate(1 / mean_runtime.total_seconds())))
            jobs.append(
                SyntheticJob(
                    at + timedelta(seconds=round(t * 3600)), timedelta(seconds=round(runtime))
                )
            )
        at += HOUR
    return jobs
