"""Predictive provisioning (#23): a generated 4-week history with a weekday 9-17 peak
(rules/synthetic_demand.py; not a recording of a real pool) -> the hourly rollup -> the fitted
schedule -> a replay of the last week through the pools' own `rules.scaling.decide`.

Prints how long the rollup, the fit and the replay of one week take, the side-by-side table, and
writes an SVG plot of demand vs warm capacity per hour of the week (--svg PATH)."""

# bench: no-database

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from provisioner.rules.demand import JobTimes, hourly
from provisioner.rules.forecast import propose, summarize
from provisioner.rules.replay import ReplayJob, compare, replay
from provisioner.rules.scaling import PoolSettings
from provisioner.rules.synthetic_demand import weekday_peak

START = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday: the history is generated, not recorded
PRICE = Decimal("0.526")  # g4dn.xlarge on-demand, us-east-1
BOOT = timedelta(minutes=3)
SETTINGS = PoolSettings(min=0, max=16, idle_minutes=10)


def svg(demand: list[float], warm: list[int], path: Path) -> None:
    width, height, top = 840, 220, max(max(demand), max(warm), 1)
    sx, sy = width / 168, (height - 30) / top

    def line(values: list[float] | list[int], color: str, name: str) -> str:
        pts = " ".join(
            f"{i * sx:.1f},{height - 20 - v * sy:.1f} {(i + 1) * sx:.1f},{height - 20 - v * sy:.1f}"
            for i, v in enumerate(values)
        )
        return (
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}">'
            f"<title>{name}</title></polyline>"
        )

    days = "".join(
        f'<text x="{d * 24 * sx + 4:.0f}" y="{height - 4}" font-size="11">{n}</text>'
        for d, n in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))
    )
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif">{days}'
        + line(demand, "#888", "mean peak demand")
        + line(warm, "#d33", "proposed warm minimum")
        + '<text x="8" y="14" font-size="12" fill="#888">mean peak demand</text>'
        '<text x="140" y="14" font-size="12" fill="#d33">proposed warm minimum (p90)</text>'
        "</svg>\n"
    )


def fitted(peak_rate: float, mean_minutes: float):
    jobs = weekday_peak(
        START, weeks=4, peak_rate=peak_rate, mean_runtime=timedelta(minutes=mean_minutes)
    )
    end = START + timedelta(weeks=4)
    t0 = time.perf_counter()
    times = [JobTimes(j.arrival, j.arrival, j.arrival + j.runtime) for j in jobs]
    hours = hourly(times, START, end)
    schedule = propose(hours, maximum=SETTINGS.max, cold_p90=BOOT.total_seconds())
    fit_seconds = time.perf_counter() - t0
    week = end - timedelta(weeks=1)
    replayed = [ReplayJob(j.arrival, j.runtime) for j in jobs if j.arrival >= week]
    return jobs, hours, schedule, fit_seconds, week, end, replayed


def table(rows) -> None:
    print("| strategy | idle/warm $ | total $ | wait p50 | wait p90 | cold starts |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        p50 = "-" if r.wait_p50 is None else f"{r.wait_p50:.0f} s"
        p90 = "-" if r.wait_p90 is None else f"{r.wait_p90:.0f} s"
        print(
            f"| {r.label} | {r.overhead_cost} | {r.total_cost} | {p50} | {p90} | {r.cold_starts} |"
        )


def main() -> int:
    # Speed: a busy week (120 jobs/h in working hours), the schedule's replay alone and all five.
    jobs, hours, schedule, fit_seconds, week, end, replayed = fitted(120, 5)
    print(f"busy history: {len(jobs)} generated jobs over 4 weeks, {len(replayed)} in the last")
    print(f"  rollup + fit of 4 weeks: {fit_seconds:.3f} s")
    wall, cpu = time.perf_counter(), time.process_time()
    replay(
        "proposed",
        replayed,
        SETTINGS,
        boot=BOOT,
        price=PRICE,
        start=week,
        end=end,
        floor=schedule.floor_at,
        floor_changes=schedule.changes(week, end),
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  replay of that week with the schedule: {wall:.3f} s wall, {cpu:.3f} s CPU")
    wall, cpu = time.perf_counter(), time.process_time()
    compare(replayed, SETTINGS, schedule, boot=BOOT, price=PRICE, start=week, end=end)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  all five strategies of the table: {wall:.3f} s wall, {cpu:.3f} s CPU")
    # The table: a moderate pool (30 jobs/h, ~6 min each), where the first jobs of a burst
    # would otherwise wait for a boot.
    jobs, hours, schedule, fit_seconds, week, end, replayed = fitted(30, 6)
    rows = compare(replayed, SETTINGS, schedule, boot=BOOT, price=PRICE, start=week, end=end)
    print(f"moderate history: {len(jobs)} jobs over 4 weeks, {len(replayed)} in the last week")
    print("schedule (UTC): " + "; ".join(summarize(schedule)[:4]) + " ...")
    table(rows)
    print("proposed warm minimum by hour (UTC; . = 0, digits, + = 10 or more):")
    print("      " + "".join(str(h % 10) for h in range(24)))
    for day, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")):
        row = schedule.hours[day * 24 : day * 24 + 24]
        print(f"  {name} " + "".join("." if v == 0 else str(v) if v < 10 else "+" for v in row))
    if "--svg" in sys.argv:
        path = Path(sys.argv[sys.argv.index("--svg") + 1])
        demand = [0.0] * 168
        for h in hours:
            demand[h.start.weekday() * 24 + h.start.hour] += h.peak / 4
        svg(demand, list(schedule.hours), path)
        print(f"plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
