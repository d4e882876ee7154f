"""`list` pages (newest 50 by default, --limit, --all, --since, "N more"), and whatever reaches a
terminal from the ledger is inert; piped tables are plain (no padding, no "…")."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
import time_machine
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.ledger.models import Instance
from provisioner.rules.lifecycle import Status

runner = CliRunner()
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def insert(service, n: int, *, user: str = "user-123", start: int = 0) -> list[str]:
    """n ended instances, one a minute before NOW, newest last; straight into the ledger."""
    ids, batch = [], []
    for i in range(start, start + n):
        created = NOW - timedelta(minutes=10_000 - i)
        ids.append(f"inst-{i:012x}")
        batch.append(
            {
                "id": ids[-1], "user_id": user, "task_id": None, "provider": "AWS",
                "instance_type": "g4dn.xlarge", "region": "ap-southeast-2", "status": "TERMINATED",
                "disk_size_gb": 50, "auto_terminate_minutes": 30,
                "cost_per_hour": Decimal("0.526"), "total_cost": Decimal("0.1"),
                "compute_cost": Decimal("0.1"), "storage_cost": Decimal(0), "tags": {},
                "metadata": {}, "allowed_ssh_cidrs": [], "engine": "simulated",
                "stack_name": ids[-1], "created_at": created,
                "expires_at": created + timedelta(minutes=30),
                "hard_deadline": created + timedelta(hours=4),
                "terminated_at": created + timedelta(minutes=5), "updated_at": created,
                "destroy_attempts": 0,
            }
        )  # fmt: skip
    with service.ledger.engine.begin() as conn:
        conn.execute(sa.insert(Instance.__table__), batch)  # type: ignore[attr-defined]
    return ids


def run(*args: str):
    with time_machine.travel(NOW, tick=False):
        return runner.invoke(app, list(args))


def test_list_shows_the_newest_50_and_says_how_many_more(service):
    ids = insert(service, 120)
    result = run("list")
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()]
    assert listed[:50] == [i + "*" for i in reversed(ids[-50:])]  # * marks simulated
    assert "70 more" in result.stderr and "--all" in result.stderr


def test_limit_all_and_since_page_in_the_database(service):
    ids = insert(service, 120)
    body = json.loads(run("list", "--limit", "7", "--json").stdout)
    assert [i["id"] for i in body["instances"]] == list(reversed(ids[-7:]))
    assert (body["count"], body["total"], body["more"]) == (7, 120, 113)

    everything = json.loads(run("list", "--all", "--json").stdout)
    assert everything["count"] == 120 and everything["more"] == 0
    assert {i["id"] for i in everything["instances"]} == set(ids)

    since = (NOW - timedelta(minutes=10_000 - 100)).strftime("%Y-%m-%dT%H:%MZ")
    recent = json.loads(run("list", "--since", since, "--all", "--json").stdout)
    assert {i["id"] for i in recent["instances"]} == set(ids[100:])

    other = insert(service, 3, user="user-9", start=500)
    mine = json.loads(run("list", "--user", "user-9", "--json").stdout)
    assert {i["id"] for i in mine["instances"]} == set(other) and mine["more"] == 0
    assert run("list", "--limit", "0").exit_code == 2


def test_all_as_json_or_ids_streams_every_match_newest_first_across_batches(service):
    ids = insert(service, 2_500)  # the ledger reads 1,000 rows at a time (5,000 ids)
    other = insert(service, 2, user="user-9", start=9_000)
    newest_first = list(reversed(ids))
    result = run("list", "--all", "--json", "--user", "user-123")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [i["id"] for i in body["instances"]] == newest_first
    assert (body["success"], body["count"], body["total"], body["more"]) == (True, 2500, 2500, 0)
    # One instance a line, so a pipeline can read it as it comes.
    item_lines = [x for x in result.stdout.splitlines() if x.startswith('    {"id": ')]
    assert len(item_lines) == 2_500
    assert body["instances"][0] == json.loads(run("show", ids[-1], "--json").stdout)["instance"]

    quiet = run("list", "--all", "--quiet", "--user", "user-123")
    assert quiet.stdout.splitlines() == newest_first
    assert run("list", "--all", "--quiet").stdout.splitlines()[:2] == list(reversed(other))

    none = run("list", "--all", "--json", "--status", "READY")
    assert json.loads(none.stdout) == {
        "success": True, "instances": [], "count": 0, "total": 0, "more": 0,
    }  # fmt: skip
    assert run("list", "--all", "--quiet", "--status", "READY").stdout == ""


def test_a_reader_that_stops_early_ends_the_listing_quietly(service):
    insert(service, 6_000)  # ~100 KB of ids: more than a pipe holds
    for extra in (["--quiet"], ["--json"]):
        listing = subprocess.Popen(
            [sys.executable, "-m", "provisioner.cli.main", "list", "--all", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert listing.stdout is not None and listing.stderr is not None
        assert listing.stdout.readline()  # `| head -1`
        listing.stdout.close()
        assert listing.wait(timeout=120) == 141  # SIGPIPE's status, as `git log | head` has
        assert listing.stderr.read() == b""  # no "error: Broken pipe", no traceback


def test_piped_tables_are_plain_and_whole(service):
    insert(service, 3)
    result = run("list")
    lines = result.stdout.splitlines()
    assert all(line == line.rstrip() for line in lines)  # no padding to a console width
    assert max(len(line) for line in lines) < 140
    assert "…" not in result.stdout
    assert "g4dn.xlarge ap-southeast-2" in result.stdout  # region never cut


def test_escape_sequences_from_old_rows_are_printed_inert(service, clock):
    from factories import make_request

    instance = service.provision(make_request())
    hostile = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202e"
    service.ledger.update(
        instance.id,
        at=clock(),
        purpose=f"purpose {hostile}",
        tags={f"k{hostile}": f"v{hostile}"},
        error=f"cloud said {hostile}",
    )
    service.ledger.note(
        instance.id,
        event_type="instance:warning",
        status=Status.READY,
        at=clock(),
        detail=f"note {hostile}",
    )
    for args in (["show", instance.id], ["list"], ["events", instance.id]):
        with time_machine.travel(clock.now, tick=False):
            result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert raw not in result.output, (args, result.output)
    shown = runner.invoke(app, ["show", instance.id]).stdout
    assert "\\x1b]0;owned\\x07" in shown  # visible, not executed
    as_json = json.loads(runner.invoke(app, ["show", instance.id, "--json"]).stdout)
    assert as_json["instance"]["purpose"] == f"purpose {hostile}"  # --json is unchanged
