"""Predictive provisioning (#23): a generated 4-week history with a weekday 9-17 peak
(rules/synthetic_demand.py; not a recording of a real pool) -> the hourly rollup -> the fitted
schedule -> a replay of the last week through the pools' own `rules.scaling.decide`.

Prints how long the rollup, the fit and the replay of one week take, the side-by-side table, and
writes an SVG plot of demand vs warm capacity per hour of the week (--svg PATH)."""

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


def main() -> int:
    jobs = weekday_peak(START, weeks=4, peak_rate=60, mean_runtime=timedelta(minutes=5))
    end = START + timedelta(weeks=4)
    t0 = time.perf_counter()
    times = [JobTimes(j.arrival, j.arrival, j.arrival + j.runtime) for j in jobs]
    hours = hourly(times, START, end)
    schedule = propose(hours, maximum=SETTINGS.max, cold_p90=BOOT.total_seconds())
    t1 = time.perf_counter()
    week = end - timedelta(weeks=1)
    replayed = [ReplayJob(j.arrival, j.runtime) for j in jobs if j.arrival >= week]
    t2, c2 = time.perf_counter(), time.process_time()
    rows = compare(replayed, SETTINGS, schedule, boot=BOOT, price=PRICE, start=week, end=end)
    t3, c3 = time.perf_counter(), time.process_time()
    one, one_cpu = time.perf_counter(), time.process_time()
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
    one, one_cpu = time.perf_counter() - one, time.process_time() - one_cpu
    print(f"history: {len(jobs)} generated jobs over 4 weeks ({len(replayed)} in the last week)")
    print(f"rollup + fit of 4 weeks: {t1 - t0:.3f} s")
    print(
        f"replay of one week with the schedule: {one:.3f} s wall, {one_cpu:.3f} s CPU; "
        f"all 5 strategies: {t3 - t2:.3f} s wall, {c3 - c2:.3f} s CPU"
    )
    print("schedule (UTC): " + "; ".join(summarize(schedule)[:3]) + " ...")
    print("| strategy | idle/warm $ | total $ | wait p50 | wait p90 | cold starts |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        p50 = "-" if r.wait_p50 is None else f"{r.wait_p50:.0f} s"
        p90 = "-" if r.wait_p90 is None else f"{r.wait_p90:.0f} s"
        print(
            f"| {r.label} | {r.overhead_cost} | {r.total_cost} | {p50} | {p90} | {r.cold_starts} |"
        )
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
