"""#27: `list --live`, repeated `--status`, `--task`; `events --follow`; `status ID TERMINATED`
is bad input (exit 2); TTLs past 120 minutes and an `extend` past 4 h where the settings allow
them, and durations (`--ttl 1h`) wherever minutes are taken."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime

import pytest
from factories import make_request
from remote.conftest import cli
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.config import Settings
from provisioner.ops.service import Provisioner

runner = CliRunner()


def ids(*args: str) -> list[str]:
    result = runner.invoke(app, ["list", *args, "--json"])
    assert result.exit_code == 0, result.output
    return [i["id"] for i in json.loads(result.stdout)["instances"]]


@pytest.fixture
def three(home):
    service = Provisioner(Settings(home=home, engine="simulated"))
    ready = service.provision(make_request(task_id="train-a")).id
    running = service.provision(make_request(task_id="train-b")).id
    service.set_status(running, "RUNNING")
    ended = service.provision(make_request(task_id="train-a")).id
    service.terminate(ended)
    service.ledger.dispose()
    return ready, running, ended


def test_list_filters_by_several_statuses_a_task_and_live(three):
    ready, running, ended = three
    assert set(ids("--status", "READY", "--status", "TERMINATED")) == {ready, ended}
    assert set(ids("--status", "READY,RUNNING")) == {ready, running}
    assert set(ids("--live")) == {ready, running}
    assert set(ids("--task", "train-a")) == {ready, ended}
    assert ids("--task", "train-a", "--live") == [ready]
    assert ids("--task", "train-a", "--status", "TERMINATED", "--status", "FAILED") == [ended]
    assert ids("--task", "nobody") == []
    quiet = runner.invoke(app, ["list", "--live", "-q"]).stdout.split()
    assert set(quiet) == {ready, running}
    bad = runner.invoke(app, ["list", "--status", "READY", "--status", "SLEEPING"])
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_status_terminated_is_bad_input_exit_2(three):
    ready, _, _ = three
    result = runner.invoke(app, ["status", ready, "TERMINATED"])
    assert result.exit_code == 2
    assert "RUNNING or READY" in result.stderr


def test_events_follow_prints_new_events_until_the_instance_ends(three, home):
    ready, _, ended = three
    done = runner.invoke(app, ["events", ended, "--follow"])  # ended: prints all, stops
    assert done.exit_code == 0 and done.stdout.splitlines()[-1].split()[2] == "instance:terminated"
    follower = cli(
        "events", ready, "--follow", "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:  # a failed assertion must not leave the follower following for ever
        assert follower.stdout is not None
        first = json.loads(follower.stdout.readline())
        assert first["type"] and follower.poll() is None  # still following a live instance
        assert runner.invoke(app, ["down", ready]).exit_code == 0
        rest, _ = follower.communicate(timeout=120)
    finally:
        follower.kill()
        follower.wait()
    assert follower.returncode == 0
    types = [json.loads(line)["type"] for line in rest.splitlines()]
    assert types[-1] == "instance:terminated" and "instance:stopping" in types


def test_ttl_past_120_minutes_and_extend_past_4_hours_when_the_settings_allow(home, monkeypatch):
    refused = runner.invoke(
        app,
        ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge", "--ttl", "121"],
    )
    assert refused.exit_code == 2 and "PROVISIONER_MAX_TTL_MINUTES" in refused.stderr
    monkeypatch.setenv("PROVISIONER_MAX_TTL_MINUTES", "480")
    monkeypatch.setenv("PROVISIONER_HARD_LIFETIME_MINUTES", "720")
    up = runner.invoke(
        app,
        [
            "up",
            "--simulate",
            "--provider",
            "aws",
            "--instance-type",
            "g4dn.xlarge",
            "--ttl",
            "3h",
            "--json",
        ],
    )
    assert up.exit_code == 0, up.output
    instance = json.loads(up.stdout)["instance"]
    assert instance["autoTerminateMinutes"] == 180
    extended = runner.invoke(app, ["extend", instance["id"], "--minutes", "5h", "--json"])
    assert extended.exit_code == 0, extended.output
    after = json.loads(extended.stdout)["instance"]
    created = datetime.fromisoformat(instance["createdAt"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(after["expiresAt"].replace("Z", "+00:00"))
    assert (expires - created).total_seconds() > 4 * 3600
    one_hour = runner.invoke(
        app,
        [
            "up",
            "--simulate",
            "--provider",
            "aws",
            "--instance-type",
            "g4dn.xlarge",
            "--ttl",
            "1h",
            "--json",
        ],
    )
    assert json.loads(one_hour.stdout)["instance"]["autoTerminateMinutes"] == 60
