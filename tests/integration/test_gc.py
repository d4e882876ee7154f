"""`provisioner gc` (#13) on the simulated engine and a real ledger: old stacks leave the backend,
their history stays answerable, old event rows move to a JSON-lines file, statistics unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from factories import make_request
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.ops.gc import collect, parse_window
from provisioner.ops.reaper import Reaper


def ended(service, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        instance = service.provision(make_request())
        service.terminate(instance.id)
        ids.append(instance.id)
    return ids


def stack_file(settings, instance_id: str) -> Path:
    return settings.home / "simulated-stacks" / f"{instance_id}.json"


def test_gc_collects_what_ended_before_the_window_and_keeps_the_statistics(
    service, settings, clock
):
    old = ended(service, 3)
    clock.advance(days=31)
    recent = ended(service, 1)
    running = service.provision(make_request())
    before = service.statistics().model_dump()
    events_before = {i: service.events(i) for i in old}

    result = collect(service, older_than=parse_window("30d"))

    assert result.collected == 3 and result.stacks_removed == 3 and not result.failed
    assert all(not stack_file(settings, i).exists() for i in old)
    assert stack_file(settings, recent[0]).exists()
    assert stack_file(settings, running.id).exists()
    assert service.statistics().model_dump() == before  # nothing archived changes a figure
    # history still answers, from the ledger: the gc entry says what happened to the stack
    (entry,) = service.history(old[0])
    assert entry.kind == "gc" and "removed" in entry.message
    # the event rows moved to the archive file, every one of them
    lines = [json.loads(line) for line in Path(result.archive_file).read_text().splitlines()]
    assert len(lines) == result.events_archived == sum(len(e) for e in events_before.values())
    assert {line["instanceId"] for line in lines} == set(old)
    assert service.events(old[0]) == []
    assert service.events(recent[0])
    # the rows themselves stay: show and list still find them
    assert service.get(old[0]).status == "TERMINATED"
    assert collect(service, older_than=parse_window("30d")).collected == 0


def test_the_reaper_collects_once_a_day(service, settings, clock):
    old = ended(service, 2)
    clock.advance(days=31)
    reaper = Reaper(service)
    first = reaper.sweep()
    assert any(a.kind == "gc" and a.outcome == "done" for a in first.actions)
    assert all(not stack_file(settings, i).exists() for i in old)
    more = ended(service, 1)
    clock.advance(days=31)
    second = reaper.sweep()  # a day (and more) after the first gc: it runs again
    assert any(a.kind == "gc" for a in second.actions)
    assert not stack_file(settings, more[0]).exists()
    third = reaper.sweep()  # same moment: not again
    assert not any(a.kind == "gc" for a in third.actions)


def test_gc_cli_reports_and_refuses_a_bad_window(home, service, clock):
    runner = CliRunner()
    bad = runner.invoke(app, ["gc", "--older-than", "soon", "--simulate"])
    assert bad.exit_code == 2
    assert "--older-than must be" in bad.stderr
    good = runner.invoke(app, ["gc", "--older-than", "30d", "--simulate", "--json"])
    assert good.exit_code == 0, good.stderr
    body = json.loads(good.stdout)
    assert body["success"] is True and body["gc"]["collected"] == 0
