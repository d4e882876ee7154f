"""The forecast's pure parts (#23): the hourly demand rollup, the schedule fitted from a generated
4-week history with a weekday 9-17 peak, and its replay through the pools' scaling decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from provisioner.rules import replay as replay_module
from provisioner.rules import scaling
from provisioner.rules.demand import JobTimes, hour_of_week, hourly
from provisioner.rules.forecast import (
    Schedule,
    flag_days,
    propose,
    suggest_idle_minutes,
    too_little,
)
from provisioner.rules.replay import ReplayJob, compare, replay
from provisioner.rules.scaling import PoolSettings
from provisioner.rules.synthetic_demand import weekday_peak

MONDAY = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday 00:00 UTC; pure code, no wall clock
T = timedelta


def at(hours: float) -> datetime:
    return MONDAY + T(hours=hours)


def test_the_hourly_rollup_counts_peak_arrivals_waits_and_cold_starts_exactly():
    jobs = [
        JobTimes(at(10 + 10 / 60), at(10 + 10 / 60), at(10 + 50 / 60)),
        JobTimes(at(10.5), at(10.5), at(11 + 20 / 60)),  # runs into 11:00
        JobTimes(at(11 + 5 / 60), at(11 + 15 / 60), at(11 + 25 / 60)),  # waited 10 min
        JobTimes(at(12.5), None, None),  # still queued at the end
    ]
    hours = hourly(jobs, at(9), at(13), cold_starts=[(at(10.1), 100.0), (at(10.2), 200.0)])
    by = {h.start.hour: h for h in hours}
    assert [h.start.hour for h in hours] == [9, 10, 11, 12]
    assert (by[9].peak, by[9].arrivals) == (0, 0)
    assert (by[10].peak, by[10].arrivals, by[10].wait_p90) == (2, 2, 0.0)
    # 11:00 starts with the job carried over, then the new one overlaps it: 2 at once.
    assert (by[11].peak, by[11].arrivals, by[11].wait_p50) == (2, 1, 600.0)
    assert (by[10].cold_p50, by[10].cold_p90) == (100.0, 200.0)
    assert (by[12].peak, by[12].arrivals, by[12].wait_p50) == (1, 1, None)


def fitted(weeks: int = 4, maximum: int = 10):
    jobs = weekday_peak(MONDAY, weeks=weeks, peak_rate=30)
    times = [JobTimes(j.arrival, j.arrival, j.arrival + j.runtime) for j in jobs]
    end = MONDAY + T(weeks=weeks)
    hours = hourly(times, MONDAY, end)
    return jobs, hours, propose(hours, maximum=maximum, cold_p90=180)


def test_a_weekday_peak_gets_warm_vms_in_working_hours_and_none_at_night():
    _, hours, schedule = fitted()
    assert too_little(hours) is None
    for index, warm in enumerate(schedule.hours):
        day, hour = divmod(index, 24)
        if day < 5 and 9 <= hour < 17:
            assert warm >= 2, (day, hour)
        elif day >= 5 or hour < 9 or hour >= 18:  # 17-18: the day's last jobs run on
            assert warm == 0, (day, hour)
    assert schedule.lead_seconds == 180
    # Applied early by the cold start: ready at 09:00 means launched at 08:57.
    monday_9 = MONDAY + T(weeks=4, hours=9)
    assert schedule.floor_at(monday_9 - T(seconds=180)) == schedule.hours[9]
    assert schedule.floor_at(monday_9 - T(seconds=181)) == 0


def test_the_schedule_never_proposes_more_than_the_pools_max():
    _, _, schedule = fitted(maximum=2)
    assert max(schedule.hours) == 2


def test_replayed_the_schedule_waits_less_than_min_0_and_idles_less_than_a_flat_peak():
    jobs, hours, schedule = fitted()
    rows = compare(
        [ReplayJob(j.arrival, j.runtime) for j in jobs],
        PoolSettings(0, 10, 10),
        schedule,
        boot=T(minutes=3),
        price=Decimal("0.526"),
        start=hours[0].start,
        end=hours[-1].start + T(hours=1),
    )
    by = {r.label.split(" (")[0]: r for r in rows}
    cold, zero, flat, proposed = (
        by["cold per job"],
        by["min 0"],
        by[f"flat min {max(schedule.hours)}"],
        by["proposed schedule"],
    )
    assert cold.jobs == zero.jobs == proposed.jobs == len(jobs)
    assert proposed.wait_p90 is not None and zero.wait_p90 is not None
    assert proposed.wait_p90 < zero.wait_p90
    assert proposed.overhead_cost < flat.overhead_cost
    assert proposed.cold_starts < cold.cold_starts
    assert flat.wait_p90 is not None and flat.wait_p90 <= proposed.wait_p90


def test_the_replay_runs_the_sweeps_own_decision_function():
    assert replay_module.decide is scaling.decide
    # And it behaves like it: min 1 with no jobs keeps one VM warm all day (one cold start,
    # a day of warm capacity), min 0 launches nothing.
    empty: list[ReplayJob] = []
    kept = replay(
        "min 1", empty, PoolSettings(1, 3, 10), boot=T(minutes=2), price=Decimal(1),
        start=MONDAY, end=MONDAY + T(days=1),
    )  # fmt: skip
    none = replay(
        "min 0", empty, PoolSettings(0, 3, 10), boot=T(minutes=2), price=Decimal(1),
        start=MONDAY, end=MONDAY + T(days=1),
    )  # fmt: skip
    assert (kept.cold_starts, round(kept.overhead_hours, 3)) == (1, 24.0)
    assert (none.cold_starts, none.overhead_hours) == (0, 0.0)


def test_a_queue_on_a_min_0_pool_waits_one_boot_then_shares_the_warm_vm():
    jobs = [ReplayJob(at(1), T(minutes=5)), ReplayJob(at(1) + T(minutes=10), T(minutes=5))]
    result = replay(
        "min 0", jobs, PoolSettings(0, 3, 10), boot=T(minutes=2), price=Decimal(1),
        start=MONDAY, end=MONDAY + T(hours=3),
    )  # fmt: skip
    # The first waits the boot; the second finds the VM idle (3 of its 10 idle minutes used).
    assert (result.cold_starts, result.wait_p50, result.wait_p90) == (1, 0.0, 120.0)
    busy, overhead = result.busy_hours * 60, result.overhead_hours * 60
    assert (round(busy, 6), round(overhead, 6)) == (10.0, 2 + 3 + 10)


def test_under_three_days_of_history_nothing_is_proposed_and_it_says_why():
    jobs = weekday_peak(MONDAY, weeks=2 / 7, peak_rate=10)  # Monday and Tuesday
    times = [JobTimes(j.arrival, j.arrival, j.arrival + j.runtime) for j in jobs]
    hours = hourly(times, MONDAY - T(weeks=2), MONDAY + T(days=2))
    reason = too_little(hours)
    assert reason is not None and "1.6 days of job history" in reason and "3 days" in reason


def test_a_day_far_above_the_forecast_is_flagged():
    _, hours, schedule = fitted()
    quiet = Schedule(tuple(0 for _ in schedule.hours), 0)
    flags = flag_days(hours, quiet)
    weekdays = {f.day for f in flags}
    assert len(weekdays) == 20 and all(f.direction == "above" for f in flags)
    assert flag_days(hours, schedule) == []
    assert hour_of_week(MONDAY + T(days=6, hours=23)) == 167


def test_the_idle_timeout_suggested_is_the_p90_gap_between_arrivals_without_the_nights():
    busy = [at(9) + T(minutes=3 * n) for n in range(40)]  # every 3 min from 09:00 ...
    busy += [at(9) + T(minutes=120 + 7 * n) for n in range(5)]  # ... then 5 gaps of 7 min
    night = [at(33)]  # the next morning: a 20 h lull, left out
    assert suggest_idle_minutes(busy + night) == (3, 44)
    assert suggest_idle_minutes(busy[:5]) is None  # too few gaps to say


def test_a_vm_the_floor_holds_past_its_idle_timeout_goes_when_the_floor_drops():
    # Floor 1 from 09:00 to 10:00; one job at 09:30. The VM idles from 09:35, past its 10 min
    # timeout at 09:45 but held by the floor; at 10:00 the floor drops and it goes, at 10:00.
    schedule = Schedule(tuple(1 if h == 9 else 0 for h in range(168)), 0)
    jobs = [ReplayJob(at(9.5), T(minutes=5))]
    result = replay(
        "floor", jobs, PoolSettings(0, 3, 10), boot=T(minutes=2), price=Decimal(1),
        start=MONDAY, end=MONDAY + T(hours=12), floor=schedule.floor_at,
        floor_changes=schedule.changes(MONDAY, MONDAY + T(hours=12)),
    )  # fmt: skip
    # Launched at 09:00 (ready 09:02), gone at 10:00: 60 min, 5 of them busy; no wait.
    assert (result.cold_starts, result.wait_p90) == (1, 0.0)
    assert (round(result.busy_hours * 60, 6), round(result.overhead_hours * 60, 6)) == (5.0, 55.0)
