"""#27: `show` of an ended instance gives final figures only; `logs ID --run 2` names the runs
there are; `reap --once` counts preemptions in its summary; after `gc`, `events ID` says where
the events went."""

from __future__ import annotations

import json
from datetime import timedelta

from factories import FakeClock, make_request
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.config import Settings
from provisioner.ops import gc
from provisioner.ops.service import Provisioner
from provisioner.remote import runlog

runner = CliRunner()


def ended_instance(home) -> str:
    service = Provisioner(Settings(home=home, engine="simulated"))
    instance_id = service.provision(make_request()).id
    service.terminate(instance_id)
    service.ledger.dispose()
    return instance_id


def test_show_of_an_ended_instance_has_final_figures_only(home):
    instance_id = ended_instance(home)
    text = runner.invoke(app, ["show", instance_id]).stdout
    assert "final" in text and "so far" not in text
    assert "expires" not in text and "hard deadline" not in text
    assert "terminated" in text


def test_logs_of_a_missing_run_names_the_runs_there_are(home):
    service = Provisioner(Settings(home=home, engine="simulated"))
    instance_id = service.provision(make_request()).id
    record = runlog.RunLog(home, instance_id, "python3 t.py", "run")
    record.write(b"hello\n")
    record.finish(0)
    result = runner.invoke(app, ["logs", instance_id, "--run", "2"])
    assert result.exit_code == 2
    assert f"Instance {instance_id} has no run 2; its runs: 1" in result.stderr
    assert runner.invoke(app, ["logs", instance_id, "--run", "1"]).stdout == "hello\n"
    service.terminate(instance_id)


def test_reap_once_says_how_many_were_preempted(home):
    result = runner.invoke(app, ["reap", "--once"])
    assert result.exit_code == 0, result.output
    assert "preempted 0" in result.stdout


def test_events_after_gc_say_where_they_were_archived(home):
    instance_id = ended_instance(home)
    settings = Settings(home=home, engine="simulated")
    ended_at = Provisioner(settings).get(instance_id).terminated_at
    assert ended_at is not None
    later = Provisioner(settings, clock=FakeClock(ended_at + timedelta(days=31)))
    assert gc.collect(later, older_than=timedelta(days=30)).events_archived > 0
    text = runner.invoke(app, ["events", instance_id]).stdout
    assert "archived by `provisioner gc`" in text and str(home / "archive") in text
    body = json.loads(runner.invoke(app, ["events", instance_id, "--json"]).stdout)
    assert body["count"] == 0 and body["archivedIn"].startswith(str(home / "archive"))
    archived = (home / "archive").glob("events-*.jsonl")
    assert any(instance_id in path.read_text() for path in archived)
