"""`provisioner submit`, `provisioner jobs`, `provisioner job show|logs|cancel` (#22)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from provisioner.cli.completion import pool_names
from provisioner.cli.instances import JsonOpt

job_app = typer.Typer(help="One job: show, logs, cancel.", no_args_is_help=True)
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def job_json(service: Any, job: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from provisioner.ops.job_views import job_json as as_json

    return as_json(service, job, extra)


def submit(
    command: Annotated[list[str] | None, typer.Argument(help="After `--`: the command.")] = None,
    pool: Annotated[
        str | None, typer.Option("--pool", help="The pool to run on.", autocompletion=pool_names)
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Folder copied to the VM; the command runs in it.")
    ] = None,
    priority: Annotated[int, typer.Option(help="Higher runs first.")] = 0,
    max_runtime: Annotated[
        int | None, typer.Option("--max-runtime", help="Stop and fail it after MINUTES.")
    ] = None,
    retries: Annotated[int, typer.Option(help="Requeues if its VM is preempted.")] = 0,
    user: Annotated[str | None, typer.Option(help="User id (default: your login name).")] = None,
    task: Annotated[str | None, typer.Option(help="Task id.")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Stream its output, exit with its code.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Queue a job on a pool and print its id (a sweep assigns and runs it)."""
    from provisioner.cli.context import default_user, make_provisioner
    from provisioner.ops.pools_service import pack_workdir
    from provisioner.ops.pools_service import submit as submit_job
    from provisioner.remote.ssh import shell_command
    from provisioner.rules.errors import ValidationError

    if not pool:
        raise ValidationError("pool", "--pool is required: the pool to run on")
    shell_command(command or [])  # CMD missing: refused before anything else
    service = make_provisioner()
    data = None
    if workdir is not None:
        data = pack_workdir(workdir, service.settings.max_workdir_bytes)
    job = submit_job(
        service,
        pool,
        list(command or []),
        user_id=user or default_user(),
        task_id=task,
        workdir=data,
        priority=priority,
        max_runtime=max_runtime,
        retries=retries,
    )
    if json_output:
        print(json.dumps(job_json(service, job), indent=2))
    else:
        print(job.id)
    _warn_if_no_sweep(service, job.id)
    if wait:
        raise typer.Exit(_follow(service, job.id, stream=True))


def _warn_if_no_sweep(service: Any, job_id: str) -> None:
    """Only a sweep (`reap`, `serve`) assigns queued jobs: without one the job waits forever.
    One line on stderr, so `submit`'s stdout (the id, or --json) stays parseable."""
    from provisioner.cli.render import err
    from provisioner.ops.reaper_watch import reaper_watch

    watch = reaper_watch(
        service.ledger, now=service.clock(), default_interval=service.settings.reap_interval_seconds
    )
    if not watch.watching:
        err.print(
            f"warning: {watch.detail}: {job_id} stays QUEUED until one runs; keep "
            "`provisioner reap` or `provisioner serve` running (docs/jobs.md)",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )


def _follow(service: Any, job_id: str, *, stream: bool) -> int:
    """Print the job's output as it grows (from its VM while it runs); return its exit code."""
    from provisioner.ledger.jobs import get_job
    from provisioner.ops.scheduler import job_log_path

    shown = 0
    while True:
        job = get_job(service.ledger, job_id)
        text = _output(service, job)
        if stream and len(text) > shown:
            sys.stdout.write(text[shown:])
            sys.stdout.flush()
            shown = len(text)
        if job.status in FINAL:
            final = job_log_path(service.settings.home, job_id)
            if final.exists() and stream:
                rest = final.read_text()[shown:]
                sys.stdout.write(rest)
            if job.exit_code is not None:
                return int(job.exit_code)
            return 1
        time.sleep(1)


def _output(service: Any, job: Any) -> str:
    from provisioner.ops.job_views import job_output

    return job_output(service, job)


def jobs(
    pool: Annotated[str | None, typer.Option("--pool", autocompletion=pool_names)] = None,
    user: Annotated[str | None, typer.Option("--user")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    json_output: JsonOpt = False,
) -> None:
    """The queue and recent jobs: position, time waited and why each queued job waits."""
    from provisioner.cli.context import make_provisioner
    from provisioner.ledger import jobs as job_rows
    from provisioner.ledger.pools import require_pool
    from provisioner.ops.pools_service import queue_view
    from provisioner.rules.jobs import parse_job_status

    service = make_provisioner()
    pool_id = require_pool(service.ledger, pool).id if pool else None
    statuses = [parse_job_status(status)] if status else None
    rows = job_rows.list_jobs(service.ledger, pool_id=pool_id, user_id=user, statuses=statuses)
    view = queue_view(service, rows)
    data = [job_json(service, j, view.get(j.id)) for j in rows]
    if json_output:
        print(json.dumps(data, indent=2))
        return
    for d in data:
        where = d["instanceId"] or "-"
        line = f"{d['id']}  {d['status']:<9}  {d['pool']}  {d['userId']}  {where}  {d['command']}"
        if d["position"] is not None:
            line += f"\n    #{d['position']} waited {d['waitedSeconds']} s: {d['waitReason']}"
        elif d["reason"]:
            line += f"\n    {d['reason']}"
        print(line)


@job_app.command("show")
def show(job_id: str, json_output: JsonOpt = False) -> None:
    """A job, its events and its cost so far."""
    from provisioner.cli.context import make_provisioner
    from provisioner.ledger import jobs as job_rows
    from provisioner.ops.job_views import job_detail

    service = make_provisioner()
    data = job_detail(service, job_rows.get_job(service.ledger, job_id))
    if json_output:
        print(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if key != "events":
            print(f"{key}: {value}")
    for e in data["events"]:
        print(f"  {e['at']}  {e['type']}  {e['detail'] or ''}")


@job_app.command("logs")
def logs(
    job_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Until the job ends.")] = False,
) -> None:
    """The job's output (stdout and stderr)."""
    from provisioner.cli.context import make_provisioner
    from provisioner.ledger.jobs import get_job

    service = make_provisioner()
    if follow:
        _follow(service, job_id, stream=True)
        return
    sys.stdout.write(_output(service, get_job(service.ledger, job_id)))


@job_app.command("cancel")
def cancel(job_id: str, json_output: JsonOpt = False) -> None:
    """Cancel a queued job now, or stop a running one at the next sweep."""
    from provisioner.cli.context import make_provisioner
    from provisioner.ops.pools_service import cancel as cancel_job

    service = make_provisioner()
    job = cancel_job(service, job_id)
    if json_output:
        print(json.dumps(job_json(service, job), indent=2))
    else:
        what = "cancelled" if job.status == "CANCELLED" else "stops at the next sweep"
        print(f"{job.id}: {what}")


def register(app: typer.Typer) -> None:
    app.command()(submit)
    app.command()(jobs)
    app.add_typer(job_app, name="job")
