"""`pool forecast` and `pool edit --schedule` (#23): a pool's demand history from the ledger,
the schedule fitted from it (rules/forecast.py), its replay against the alternatives
(rules/replay.py), and the floor the sweep passes to the scaling decision."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from provisioner.ledger import demand as demand_rows
from provisioner.ledger import pools as pool_rows
from provisioner.ledger.forecast_models import PoolSchedule
from provisioner.ledger.pool_models import Pool
from provisioner.rules import forecast as fc
from provisioner.rules.demand import HourStats, floor_hour, hourly, percentile
from provisioner.rules.errors import ValidationError
from provisioner.rules.replay import ReplayJob, compare
from provisioner.rules.scaling import PoolSettings

if TYPE_CHECKING:
    from provisioner.ops.service import Provisioner

# With no pool instance that ever got READY, the cold start assumed (SkyPilot measured 1 m 41 s
# to 3 m 35 s to ready on real clouds); the report says it is assumed.
ASSUMED_COLD_START = 180.0
REFIT_AFTER = timedelta(days=1)  # an `auto` schedule is refitted by the sweep once a day
MAX_WEEKS = 12


def check_weeks(weeks: int) -> int:
    if isinstance(weeks, bool) or not 1 <= weeks <= MAX_WEEKS:
        raise ValidationError("weeks", f"weeks must be a whole number from 1 to {MAX_WEEKS}")
    return weeks


def history(service: Provisioner, pool: Pool, weeks: int) -> tuple[list[HourStats], list[float]]:
    """The pool's whole hours of the last `weeks` weeks, and its measured cold starts (s)."""
    end = floor_hour(service.clock())
    since = end - timedelta(weeks=weeks)
    colds = demand_rows.cold_starts(service.ledger, pool.id, since)
    times = demand_rows.job_times(service.ledger, pool.id, since)
    return hourly(times, since, end, cold_starts=colds), [s for _, s in colds]


def fit(service: Provisioner, pool: Pool, weeks: int) -> tuple[fc.Schedule | None, str | None]:
    hours, colds = history(service, pool, weeks)
    why = fc.too_little(hours)
    if why is not None:
        return None, why
    lead = percentile(colds, 0.9) or ASSUMED_COLD_START
    return fc.propose(hours, maximum=pool.max, cold_p90=lead), None


def pool_price(service: Provisioner, pool: Pool) -> Decimal:
    """The pool's $/hour: its newest instance's, else its first candidate's list price."""
    members = pool_rows.members(service.ledger, pool.id, ended=True)
    if members:
        return Decimal(members[-1].cost_per_hour)
    from provisioner.rules.validation import ProvisionRequest

    data: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in pool.request.items()
    }
    _, candidates, _ = service.plan(ProvisionRequest(**data))
    return Decimal(candidates[0].price_per_hour)


def forecast(service: Provisioner, name: str, *, weeks: int = 4) -> dict[str, Any]:
    """The report of `pool forecast` (and its --json)."""
    check_weeks(weeks)
    pool = pool_rows.require_pool(service.ledger, name, field="name")
    hours, colds = history(service, pool, weeks)
    report: dict[str, Any] = {"success": True, "pool": pool.name, "weeks": weeks}
    why = fc.too_little(hours)
    if why is not None:
        return {**report, "proposed": False, "reason": why}
    measured = bool(colds)
    cold_p50 = percentile(colds, 0.5) or ASSUMED_COLD_START
    cold_p90 = percentile(colds, 0.9) or ASSUMED_COLD_START
    schedule = fc.propose(hours, maximum=pool.max, cold_p90=cold_p90)
    times = demand_rows.job_times(service.ledger, pool.id, hours[0].start)
    jobs = [
        ReplayJob(t.submitted, t.ended - t.started)
        for t in times
        if t.started is not None and t.ended is not None
    ]
    price = pool_price(service, pool)
    settings = PoolSettings(pool.min, pool.max, pool.idle_minutes, pool.max_age_minutes)
    rows = compare(
        jobs,
        settings,
        schedule,
        boot=timedelta(seconds=cold_p50),
        price=price,
        start=hours[0].start,
        end=hours[-1].start + timedelta(hours=1),
    )
    stored = demand_rows.get_schedule(service.ledger, pool.id)
    idle = fc.suggest_idle_minutes([t.submitted for t in times])
    return {
        **report,
        "proposed": True,
        "percentile": fc.PERCENTILE,
        "coldStartP50Seconds": cold_p50,
        "coldStartP90Seconds": cold_p90,
        "coldStartMeasured": measured,
        "pricePerHour": float(price),
        "historyDays": round(fc.history_span(hours).total_seconds() / 86400, 1),
        "schedule": schedule.to_json(),
        "summary": fc.summarize(schedule),
        "replay": [r.to_json() for r in rows],
        "flaggedDays": [f.text() for f in fc.flag_days(hours, schedule)],
        "scheduleMode": "auto" if stored is not None else "off",
        "idleMinutes": pool.idle_minutes,
        "suggestedIdleMinutes": None if idle is None else idle[0],
        "arrivalGaps": 0 if idle is None else idle[1],
        "demandByHourOfWeek": demand_by_hour_of_week(hours),
    }


def demand_by_hour_of_week(hours: list[HourStats]) -> list[float]:
    """The mean peak demand of each hour of the week over the history (for plots)."""
    sums = [0.0] * 168
    counts = [0] * 168
    for h in hours:
        i = h.start.weekday() * 24 + h.start.hour
        sums[i] += h.peak
        counts[i] += 1
    return [round(s / c, 2) if c else 0.0 for s, c in zip(sums, counts, strict=True)]


def check_mode(mode: str) -> str:
    if mode not in ("auto", "off"):
        raise ValidationError("schedule", f"schedule must be auto or off (got {mode!r})")
    return mode


def set_schedule(service: Provisioner, name: str, mode: str, *, weeks: int = 4) -> str:
    """`pool edit NAME --schedule auto|off`: one line saying what is now in force."""
    check_mode(mode)
    check_weeks(weeks)
    pool = pool_rows.require_pool(service.ledger, name, field="name")
    if mode == "off":
        demand_rows.delete_schedule(service.ledger, pool.id)
        return f"schedule off: pool {pool.name} keeps its min {pool.min}"
    row = refit(service, pool, weeks)
    if row.hours is None:
        return f"schedule auto, {row.note} (refitted daily)"
    top = max(row.hours)
    return (
        f"schedule auto: up to {top} warm above min {pool.min} by hour of the week, "
        f"{row.lead_seconds} s early (refitted daily; `pool forecast {pool.name}`)"
    )


def refit(service: Provisioner, pool: Pool, weeks: int) -> PoolSchedule:
    schedule, why = fit(service, pool, weeks)
    now = service.clock()
    return demand_rows.save_schedule(
        service.ledger,
        PoolSchedule(
            pool_id=pool.id,
            mode="auto",
            weeks=weeks,
            hours=None if schedule is None else list(schedule.hours),
            lead_seconds=0 if schedule is None else schedule.lead_seconds,
            note=why,
            fitted_at=now,
            updated_at=now,
        ),
    )


def floor_now(service: Provisioner, pool: Pool, now: datetime) -> int | None:
    """The schedule's floor for the sweep's scaling decision now (None: no schedule). Refits an
    `auto` schedule older than a day first."""
    row = demand_rows.get_schedule(service.ledger, pool.id)
    if row is None:
        return None
    if row.fitted_at is None or now - row.fitted_at >= REFIT_AFTER:
        row = refit(service, pool, row.weeks)
    if row.hours is None:
        return None
    return fc.Schedule(tuple(row.hours), row.lead_seconds).floor_at(now)


def schedule_line(service: Provisioner, pool: Pool) -> str | None:
    """`pool show`'s line on the schedule, with the days of the last week flagged."""
    row = demand_rows.get_schedule(service.ledger, pool.id)
    if row is None:
        return None
    if row.hours is None:
        return f"schedule: auto, {row.note}"
    schedule = fc.Schedule(tuple(row.hours), row.lead_seconds)
    now = service.clock()
    hours, _ = history(service, pool, 1)
    flags = fc.flag_days(hours, schedule)
    text = f"schedule: auto, floor now {schedule.floor_at(now)}, up to {max(row.hours)}"
    if flags:
        text += "; flagged: " + "; ".join(f.text() for f in flags)
    return text


def demand_charts(service: Provisioner, *, weeks: int = 4) -> list[dict[str, Any]]:
    """Per pool with any job in the last `weeks`: its mean peak demand and its warm minimum per
    hour of the week (the stored schedule, else its --min), for cost-report --html."""
    charts = []
    for pool in pool_rows.list_pools(service.ledger):
        hours, _ = history(service, pool, weeks)
        if not any(h.arrivals or h.peak for h in hours):
            continue
        row = demand_rows.get_schedule(service.ledger, pool.id)
        scheduled = row is not None and row.hours is not None
        warm = [max(pool.min, v) for v in row.hours] if row and row.hours else [pool.min] * 168
        charts.append(
            {
                "pool": pool.name,
                "weeks": weeks,
                "demand": demand_by_hour_of_week(hours),
                "warm": warm,
                "warmSource": "schedule" if scheduled else "min",
            }
        )
    return charts
