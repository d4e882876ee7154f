"""`pool forecast` and `pool edit --schedule` (#23) on SQLite and PostgreSQL: a generated 4-week
history with a weekday 9-17 peak recorded as job rows, read back through the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from demand_history import record_history
from factories import make_request
from sqlmodel import Session, select
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.ledger.pool_models import Job
from provisioner.ops.forecast_service import floor_now
from provisioner.ops.pools_service import create_pool
from provisioner.rules.demand import floor_hour

runner = CliRunner()


def working(index: int) -> bool:
    day, hour = divmod(index, 24)
    return day < 5 and 9 <= hour < 17


def night(index: int) -> bool:
    """Weekends and 18:00-09:00 (17-18 holds the day's last jobs still running)."""
    day, hour = divmod(index, 24)
    return day >= 5 or hour < 9 or hour >= 18


def test_forecast_proposes_warm_vms_in_working_hours_only_and_replays_them(service):
    pool = create_pool(service, "t4", make_request(), minimum=0, maximum=4)
    now = datetime.now(UTC)  # the CLI's own clock: the history ends at this hour
    assert record_history(service, pool, floor_hour(now) - timedelta(weeks=4), weeks=4) > 1000
    shown = runner.invoke(app, ["pool", "forecast", "t4", "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    hours = report["schedule"]["hours"]
    assert len(hours) == 168
    assert all(hours[i] >= 1 for i in range(168) if working(i))
    assert all(hours[i] == 0 for i in range(168) if night(i))
    assert report["coldStartMeasured"] is False and report["coldStartP90Seconds"] == 180
    rows = {r["label"].split(" (")[0]: r for r in report["replay"]}
    zero, proposed = rows["min 0"], rows["proposed schedule"]
    flat = rows[f"flat min {max(hours)}"]
    assert proposed["waitP90Seconds"] < zero["waitP90Seconds"]
    assert proposed["idleWarmCost"] < flat["idleWarmCost"]
    assert rows["cold per job"]["coldStarts"] == proposed["jobs"] > 1000
    text = runner.invoke(app, ["pool", "forecast", "t4"])
    assert text.exit_code == 0, text.output
    assert "  Mon 09-1" in text.output and "Sat" not in text.output and "Sun" not in text.output
    for label in ("cold per job", "pool now (min 0)", "min 0", "proposed schedule"):
        assert label in text.output
    assert "assumed: no pool VM measured yet" in text.output


def test_under_three_days_of_history_one_line_says_why_and_exits_0(service):
    pool = create_pool(service, "t4", make_request(), minimum=0, maximum=4)
    now = datetime.now(UTC)
    record_history(service, pool, floor_hour(now) - timedelta(days=2), weeks=2 / 7, rate=20)
    shown = runner.invoke(app, ["pool", "forecast", "t4"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.strip().splitlines()
    assert (
        len(lines) == 1 and "nothing proposed" in lines[0] and "needs at least 3 days" in lines[0]
    )
    report = json.loads(runner.invoke(app, ["pool", "forecast", "t4", "--json"]).output)
    assert report["proposed"] is False and "schedule" not in report


def test_bad_forecast_and_schedule_input_is_one_line_exit_2_and_changes_nothing(service):
    create_pool(service, "t4", make_request(), minimum=0, maximum=4)
    for args, word in (
        (["pool", "forecast", "t4", "--weeks", "0"], "weeks"),
        (["pool", "forecast", "nope"], "nope"),
        (["pool", "edit", "t4", "--schedule", "sometimes", "--min", "1"], "schedule"),
    ):
        shown = runner.invoke(app, args)
        assert shown.exit_code == 2, shown.output
        assert len(shown.output.strip().splitlines()) == 1 and word in shown.output
    shown = runner.invoke(app, ["pool", "show", "t4", "--json"])
    assert json.loads(shown.output)["min"] == 0  # the bad --schedule left --min alone


def test_schedule_auto_is_stored_shown_and_gives_the_sweep_its_floor(service, clock):
    pool = create_pool(service, "t4", make_request(), minimum=0, maximum=3)
    now = datetime.now(UTC)
    record_history(service, pool, floor_hour(now) - timedelta(weeks=4), weeks=4)
    edited = runner.invoke(app, ["pool", "edit", "t4", "--schedule", "auto"])
    assert edited.exit_code == 0, edited.output
    assert "schedule auto: up to 3 warm" in edited.output
    # The sweep's floor by the injected clock: the next weekday 10:30 and the night after it.
    day = floor_hour(now).replace(hour=10, minute=30) + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    clock.now = day
    assert floor_now(service, pool, clock.now) >= 1
    clock.now = day.replace(hour=2) + timedelta(days=1)
    assert floor_now(service, pool, clock.now) == 0
    shown = runner.invoke(app, ["pool", "show", "t4"])
    assert "schedule: auto, floor now" in shown.output
    off = runner.invoke(app, ["pool", "edit", "t4", "--schedule", "off"])
    assert off.exit_code == 0 and "schedule off" in off.output
    assert floor_now(service, pool, day) is None
    assert "schedule:" not in runner.invoke(app, ["pool", "show", "t4"]).output


def test_a_weekday_without_its_usual_demand_is_flagged_in_forecast_and_show(service):
    pool = create_pool(service, "t4", make_request(), minimum=0, maximum=4)
    now = datetime.now(UTC)
    record_history(service, pool, floor_hour(now) - timedelta(weeks=4), weeks=4)
    # A holiday: the last whole weekday before today had no jobs at all.
    holiday = floor_hour(now).replace(hour=0) - timedelta(days=1)
    while holiday.weekday() >= 5:
        holiday -= timedelta(days=1)
    with Session(service.ledger.engine) as session:
        for job in session.exec(select(Job)).all():
            if holiday <= job.created_at < holiday + timedelta(days=1):
                session.delete(job)
        session.commit()
    report = json.loads(runner.invoke(app, ["pool", "forecast", "t4", "--json"]).output)
    flagged = [f for f in report["flaggedDays"] if f.startswith(holiday.date().isoformat())]
    assert len(flagged) == 1 and "below the forecast by far" in flagged[0]
    assert runner.invoke(app, ["pool", "edit", "t4", "--schedule", "auto"]).exit_code == 0
    shown = runner.invoke(app, ["pool", "show", "t4"]).output
    assert f"flagged: {holiday.date().isoformat()}: demand 0 VM-hours" in shown


def test_cost_report_html_plots_each_pools_demand_against_its_warm_capacity(service, tmp_path):
    pool = create_pool(service, "t4", make_request(), minimum=0, maximum=4)
    create_pool(service, "quiet", make_request(), minimum=1, maximum=2)  # no jobs: no chart
    record_history(service, pool, floor_hour(datetime.now(UTC)) - timedelta(weeks=4), weeks=4)
    assert runner.invoke(app, ["pool", "edit", "t4", "--schedule", "auto"]).exit_code == 0
    page = tmp_path / "report.html"
    done = runner.invoke(app, ["cost-report", "--html", str(page)])
    assert done.exit_code == 0, done.output
    text = page.read_text()
    assert "Pools: demand vs warm capacity (t4)" in text
    assert "demand vs warm capacity per hour of the week" in text
    assert "warm minimum: the forecast schedule" in text and "quiet" not in text
