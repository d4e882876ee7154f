"""Who watches the expiries: each sweep leaves a heartbeat in the ledger, and `up`, `run` and
`doctor` say when no reaper has swept lately (from the shell alone nothing destroys an instance
at its expiry; its VM's deadman stops it only at the hard deadline). SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from factories import FakeClock, make_request
from remote.conftest import needs_sshd
from sqlmodel import Session, select
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.ledger.heartbeats import latest_sweep, record_sweep
from provisioner.ledger.models import ReaperHeartbeat
from provisioner.ops.reaper import Reaper
from provisioner.ops.reaper_watch import reaper_watch
from provisioner.ops.service import Provisioner

runner = CliRunner()
UP = ["up", "--provider", "aws", "--instance-type", "g4dn.xlarge", "--simulate"]
NO_REAPER = "no reaper sweep is on record for this ledger: nothing destroys"


def watch(service, clock: FakeClock):
    return reaper_watch(service.ledger, now=clock(), default_interval=60)


def test_a_looping_reaper_is_watching_for_three_intervals_and_at_least_five_minutes(service, clock):
    assert not watch(service, clock).watching
    reaper = Reaper(service)
    reaper.interval = 60  # as run() sets it
    reaper.sweep()
    clock.advance(seconds=299)
    assert watch(service, clock).watching
    assert "every 60 s" in watch(service, clock).detail
    clock.advance(seconds=2)
    stale = watch(service, clock)
    assert not stale.watching
    assert stale.detail.startswith("no reaper has swept this ledger for 5 min")

    slow = Reaper(service)
    slow.interval = 600
    slow.sweep()
    clock.advance(seconds=1799)
    assert watch(service, clock).watching  # 3 x 600 s
    clock.advance(seconds=2)
    assert not watch(service, clock).watching


def test_each_reaper_keeps_one_row_and_a_day_old_one_is_forgotten(service, clock):
    first = Reaper(service)
    for _ in range(3):
        first.sweep()
        clock.advance(minutes=1)
    clock.advance(days=2)
    Reaper(service).sweep()  # a new reaper's first heartbeat drops rows silent for a day
    newest = latest_sweep(service.ledger)
    assert newest is not None and newest.last_sweep_at == clock()
    record_sweep(service.ledger, owner="other", host="h", pid=1, interval_seconds=None, at=clock())
    with Session(service.ledger.engine) as session:
        owners = {row.owner for row in session.exec(select(ReaperHeartbeat)).all()}
    assert first.owner not in owners and owners == {"other", newest.owner}


def test_up_from_the_shell_warns_until_a_reaper_sweeps(home):
    result = runner.invoke(app, [*UP, "--json"])
    assert result.exit_code == 0, result.output
    instance = json.loads(result.stdout)["instance"]  # stdout stays the JSON alone
    warning = next(line for line in result.stderr.splitlines() if "reaper" in line)
    assert NO_REAPER in " ".join(result.stderr.split())
    assert warning.startswith("warning: ")
    assert instance["id"] in " ".join(result.stderr.split())

    assert runner.invoke(app, ["reap", "--once"]).exit_code == 0
    again = runner.invoke(app, UP)
    assert again.exit_code == 0, again.output
    assert "reaper" not in again.stderr


@needs_sshd
def test_run_with_down_does_not_warn(home, tmp_path):
    result = runner.invoke(
        app, ["run", *UP[1:], "--allow-ssh-from", "127.0.0.1/32", "--down", "--", "true"]
    )
    assert result.exit_code == 0, result.output
    assert "reaper" not in result.stderr


def test_doctor_warns_without_failing_and_says_who_sweeps(home):
    result = runner.invoke(app, ["doctor", "--simulate", "--json"])
    assert result.exit_code == 0, result.output
    (line,) = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "reaper"]
    assert line["state"] == "warn"
    assert line["detail"].startswith("no reaper sweep is on record for this ledger; 0 live")
    assert "provisioner reap" in line["fix"]

    assert runner.invoke(app, ["reap", "--once"]).exit_code == 0
    result = runner.invoke(app, ["doctor", "--simulate"])
    assert result.exit_code == 0, result.output
    (text,) = [x for x in result.stdout.splitlines() if "reaper:" in x]
    assert text.startswith("ok") and "one sweep at a time" in text


def test_doctor_counts_the_live_instances_past_their_expiry(settings):
    # Created an hour ago with a 30-minute TTL, as doctor's wall clock sees it; one fresh.
    an_hour_ago = Provisioner(settings, clock=FakeClock(datetime.now(UTC) - timedelta(hours=1)))
    an_hour_ago.provision(make_request())
    Provisioner(settings).provision(make_request())
    result = runner.invoke(app, ["doctor", "--simulate", "--json"])
    (line,) = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "reaper"]
    assert "; 1 live instance past expiry" in line["detail"]
