"""`provisioner submit` says in one line when no sweep is on record (#22): only a sweep (`reap`,
`serve`) assigns queued jobs, so without one the job would wait forever."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from factories import make_request
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.ledger import jobs as job_rows
from provisioner.ledger.heartbeats import record_sweep
from provisioner.ops.pools_service import create_pool

runner = CliRunner()
SUBMIT = ["submit", "--pool", "t4", "--user", "alice", "--", "echo", "hi"]


def test_submit_warns_in_one_stderr_line_when_no_sweep_is_on_record(service):
    create_pool(service, "t4", make_request(), minimum=0, maximum=1)

    result = runner.invoke(app, SUBMIT)

    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    assert job_rows.get_job(service.ledger, job_id).status == "QUEUED"  # queued all the same
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: no reaper sweep is on record for this ledger")
    assert f"{job_id} stays QUEUED until one runs" in warnings[0]
    as_json = runner.invoke(app, [*SUBMIT[:-3], "--json", "--", "echo", "hi"])
    assert json.loads(as_json.stdout)["status"] == "QUEUED"  # stdout stays parseable
    assert "stays QUEUED" in as_json.stderr


def test_submit_is_quiet_while_a_reaper_sweeps(service):
    create_pool(service, "t4", make_request(), minimum=0, maximum=1)
    now = datetime.now(UTC)  # the CLI reads the real clock
    record_sweep(service.ledger, owner="r", host="h", pid=1, interval_seconds=60, at=now)

    result = runner.invoke(app, SUBMIT)

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
