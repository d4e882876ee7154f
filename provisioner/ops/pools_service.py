"""Pools and jobs for the CLI (and later the API): create/edit/drain/delete pools, submit,
cancel, and the queue with positions and wait reasons in words (#22)."""

from __future__ import annotations

import dataclasses
import io
import secrets
import tarfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner.ledger import jobs as job_rows
from provisioner.ledger import pools as pool_rows
from provisioner.ledger.pool_models import Job, Pool
from provisioner.remote.ssh import shell_command
from provisioner.remote.workdir_files import workdir_files
from provisioner.rules.errors import ConflictError, ValidationError
from provisioner.rules.jobs import JOB_FINAL, JobStatus, validate_pool_settings
from provisioner.rules.scaling import PoolState
from provisioner.rules.validation import ProvisionRequest, validate_id

if TYPE_CHECKING:
    from provisioner.ops.service import Provisioner

DEFAULT_MAX_WORKDIR_BYTES = 64 * 1024 * 1024


def create_pool(
    service: Provisioner,
    name: str,
    request: ProvisionRequest,
    *,
    minimum: int = 0,
    maximum: int = 1,
    idle_minutes: int = 10,
    max_age: int | None = None,
    reuse: str = "user",
) -> Pool:
    validate_id("name", "Pool name", name)
    validate_pool_settings(minimum, maximum, idle_minutes, max_age, reuse)
    # The pool's --idle-minutes is its scale-in timeout: the VM's own idle guard stays off, or a
    # warm VM kept for --min would stop itself.
    request = dataclasses.replace(request, idle_minutes=None)
    service.plan(request)  # the request is valid now (types, regions, budget shape...)
    now = service.clock()
    data = dataclasses.asdict(request)
    pool = Pool(
        id="pool-" + secrets.token_hex(6),
        name=name,
        user_id=request.user_id,
        request=data,
        min=minimum,
        max=maximum,
        idle_minutes=idle_minutes,
        max_age_minutes=max_age,
        reuse=reuse,
        status="ACTIVE",
        engine=service.default_engine,
        created_at=now,
        updated_at=now,
    )
    return pool_rows.create_pool(service.ledger, pool)


def edit_pool(service: Provisioner, name: str, **changes: Any) -> Pool:
    pool = pool_rows.require_pool(service.ledger, name, field="name")
    given = {k: v for k, v in changes.items() if v is not None}
    merged = {
        "min": pool.min,
        "max": pool.max,
        "idle_minutes": pool.idle_minutes,
        "max_age_minutes": pool.max_age_minutes,
        "reuse": pool.reuse,
        **given,
    }
    validate_pool_settings(
        merged["min"],
        merged["max"],
        merged["idle_minutes"],
        merged["max_age_minutes"],
        merged["reuse"],
    )
    return pool_rows.update_pool(service.ledger, pool.id, at=service.clock(), **given)


def drain_pool(service: Provisioner, name: str) -> Pool:
    pool = pool_rows.require_pool(service.ledger, name, field="name")
    return pool_rows.update_pool(service.ledger, pool.id, at=service.clock(), status="DRAINING")


def delete_pool(service: Provisioner, name: str) -> Pool:
    """Only an empty pool with no unfinished job; drain it first."""
    pool = pool_rows.require_pool(service.ledger, name, field="name")
    if pool_rows.members(service.ledger, pool.id):
        raise ConflictError(f"Pool {name} still has instances: `pool drain {name}` first")
    unfinished = job_rows.list_jobs(
        service.ledger, pool_id=pool.id, statuses=[s for s in JobStatus if s not in JOB_FINAL]
    )
    if unfinished:
        raise ConflictError(f"Pool {name} has {len(unfinished)} unfinished job(s)")
    return pool_rows.update_pool(service.ledger, pool.id, at=service.clock(), status="DELETED")


def pack_workdir(folder: Path, limit: int) -> bytes:
    """The folder as a tar.gz, refused (bad input) once it passes `limit` bytes. Only
    `workdir_files` (no `.git/`, nothing .gitignore/.provisionerignore excludes), as `run` syncs."""
    if not folder.is_dir():
        raise ValidationError("workdir", f"--workdir {folder} is not a folder")
    listed = workdir_files(folder)
    total = sum((folder / rel).lstat().st_size for rel in listed if (folder / rel).is_file())
    if total > limit:
        raise ValidationError(
            "workdir",
            f"--workdir {folder} holds {total} bytes, above PROVISIONER_MAX_WORKDIR_BYTES={limit}",
        )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for rel in listed:
            tar.add(folder / rel, arcname=rel, recursive=False)
    data = buffer.getvalue()
    if len(data) > limit:
        raise ValidationError("workdir", f"--workdir packs to {len(data)} bytes, above {limit}")
    return data


def submit(
    service: Provisioner,
    pool_name: str,
    command: list[str],
    *,
    user_id: str,
    task_id: str | None = None,
    workdir: bytes | None = None,
    priority: int = 0,
    max_runtime: int | None = None,
    retries: int = 0,
) -> Job:
    pool = pool_rows.require_pool(service.ledger, pool_name)
    if pool.status != "ACTIVE":
        raise ValidationError("pool", f"Pool {pool_name} is {pool.status}: it takes no new jobs")
    line = shell_command(command)
    if "\x00" in line:
        raise ValidationError("command", "Command must not contain NUL characters")
    validate_id("userId", "User id", user_id)
    if task_id is not None:
        validate_id("taskId", "Task id", task_id)
    if max_runtime is not None and max_runtime < 1:
        raise ValidationError(
            "maxRuntimeMinutes", f"--max-runtime must be 1 or more ({max_runtime})"
        )
    if retries < 0 or retries > 10:
        raise ValidationError("retries", f"--retries must be 0..10 (got {retries})")
    if max_runtime is not None:
        _check_job_budget(service, pool, user_id, max_runtime)
    now = service.clock()
    job_id = "job-" + secrets.token_hex(6)
    workdir_file = None
    if workdir is not None:
        path = service.settings.home / "jobs" / job_id / "workdir.tar.gz"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_bytes(workdir)
        workdir_file = str(path)
    job = Job(
        id=job_id,
        pool_id=pool.id,
        user_id=user_id,
        task_id=task_id,
        command=line,
        workdir_file=workdir_file,
        workdir_bytes=None if workdir is None else len(workdir),
        priority=priority,
        max_runtime_minutes=max_runtime,
        retries=retries,
        status=JobStatus.QUEUED.value,
        created_at=now,
        updated_at=now,
    )
    return job_rows.add_job(service.ledger, job, detail=f"pool {pool.name}")


def cancel(service: Provisioner, job_id: str) -> Job:
    """A QUEUED job is CANCELLED now; a running one is stopped by the next sweep."""
    job = job_rows.get_job(service.ledger, job_id)
    now = service.clock()
    if job.status == JobStatus.QUEUED.value:
        try:
            return job_rows.move_job(
                service.ledger,
                job_id,
                expected=JobStatus.QUEUED,
                target=JobStatus.CANCELLED,
                at=now,
                detail="cancelled while queued",
                reason="cancelled by the user",
                ended_at=now,
            )
        except ConflictError:
            job = job_rows.get_job(service.ledger, job_id)
    if JobStatus(job.status) in JOB_FINAL:
        raise ConflictError(f"Job {job_id} is {job.status} already")
    job_rows.update_job(service.ledger, job_id, at=now, cancel_requested=True)
    job_rows.note_job(
        service.ledger,
        job_id,
        event_type="job:cancel-requested",
        status=job.status,
        at=now,
        detail="stopped at the next sweep",
    )
    return job_rows.get_job(service.ledger, job_id)


def queue_view(service: Provisioner, jobs: list[Job]) -> dict[str, dict[str, Any]]:
    """Per QUEUED job: its position in its pool's queue, time waited, and why it waits."""
    view: dict[str, dict[str, Any]] = {}
    now = service.clock()
    pools = {p.id: p for p in pool_rows.list_pools(service.ledger, include_deleted=True)}
    for pool_id in {j.pool_id for j in jobs if j.status == JobStatus.QUEUED.value}:
        pool = pools[pool_id]
        queued = job_rows.list_jobs(service.ledger, pool_id=pool_id, statuses=[JobStatus.QUEUED])
        with service.ledger.engine.connect() as conn:
            running = job_rows.running_by_user(conn, pool_id)
        ordered = job_rows.queue_order(queued, running)
        members = pool_rows.members(service.ledger, pool_id)
        warming = [m for m in members if m.pool_state == PoolState.WARMING.value]
        idle = [m for m in members if m.pool_state == PoolState.IDLE.value]
        for position, job in enumerate(ordered, start=1):
            view[job.id] = {
                "position": position,
                "waitedSeconds": int((now - job.created_at).total_seconds()),
                "waitReason": _reason(pool, position, len(members), warming, idle, now),
            }
    return view


def _reason(
    pool: Pool, position: int, size: int, warming: list[Any], idle: list[Any], now: datetime
) -> str:
    ahead = position - 1
    if pool.status != "ACTIVE":
        return f"pool {pool.name} is {pool.status.lower()}"
    if warming:
        first = warming[0]
        return f"warming {first.id}, launched {int((now - first.created_at).total_seconds())} s ago"
    if idle:
        return f"an idle VM is free; assigned at the next sweep ({ahead} ahead)"
    if size >= pool.max:
        return f"pool {pool.name} at max {pool.max}, {ahead} ahead"
    return f"waiting for the next sweep to launch a VM ({ahead} ahead)"


def _check_job_budget(service: Provisioner, pool: Pool, user_id: str, minutes: int) -> None:
    """Refuse before queueing when --max-runtime x the pool's $/hour would pass the user's daily
    or monthly budget (the instance cap does not apply: pool VMs are the pool owner's)."""
    from decimal import Decimal

    from provisioner.ledger.spend import user_spend
    from provisioner.ops.budgets import day_window, load_budget, month_window, usd
    from provisioner.ops.scheduler import request_of
    from provisioner.rules.errors import BudgetExceededError

    budget = load_budget(service.ledger, user_id)
    if budget is None:
        return
    price = service.plan(request_of(pool))[1][0].price_per_hour
    projected = Decimal(price) * minutes / 60
    now = service.clock()
    periods = (
        ("daily", budget.daily_usd, day_window(now), "today"),
        ("monthly", budget.monthly_usd, month_window(now), "this month"),
    )
    for name, limit, (start, end), when in periods:
        if limit is None:
            continue
        spent = user_spend(service.ledger, user_id, now=now, since=start, until=end)
        if spent + projected > Decimal(limit):
            raise BudgetExceededError(
                f"Budget exceeded: {user_id}'s {name} budget is {usd(Decimal(limit))}; spent "
                f"{when} {usd(spent)} + this job up to {usd(projected)} (--max-runtime "
                f"{minutes} min x ${price:g}/h)",
                user_id=user_id,
                budget=name,
            )
