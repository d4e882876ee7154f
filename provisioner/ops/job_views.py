"""Pools and jobs as JSON (camelCase), and a job's output: one shape for the CLI's `--json` and
the REST API (#22)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provisioner.ledger import jobs as job_rows
from provisioner.ledger import pools as pool_rows
from provisioner.ledger.pool_models import Job, Pool

if TYPE_CHECKING:
    from provisioner.ops.service import Provisioner


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def pool_json(service: Provisioner, pool: Pool) -> dict[str, Any]:
    from provisioner.ops.job_costs import pool_cost

    members = pool_rows.members(service.ledger, pool.id)
    cost = pool_cost(service, pool)
    return {
        "id": pool.id,
        "name": pool.name,
        "userId": pool.user_id,
        "status": pool.status,
        "min": pool.min,
        "max": pool.max,
        "idleMinutes": pool.idle_minutes,
        "maxAgeMinutes": pool.max_age_minutes,
        "reuse": pool.reuse,
        "engine": pool.engine,
        "provider": pool.request.get("provider"),
        "instanceType": pool.request.get("instance_type"),
        "instances": [
            {"id": m.id, "status": m.status, "poolState": m.pool_state, "poolUser": m.pool_user}
            for m in members
        ],
        "cost": {
            "instances": float(cost.instances),
            "jobs": float(sum(cost.jobs.values())),
            "overhead": float(cost.overhead),
        },
        "createdAt": _iso(pool.created_at),
    }


def job_json(service: Provisioner, job: Job, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    pool = pool_rows.pool_by_id(service.ledger, job.pool_id)
    data = {
        "id": job.id,
        "pool": pool.name,
        "userId": job.user_id,
        "taskId": job.task_id,
        "command": job.command,
        "status": job.status,
        "priority": job.priority,
        "maxRuntimeMinutes": job.max_runtime_minutes,
        "retries": job.retries,
        "attempt": job.attempt,
        "instanceId": job.instance_id,
        "exitCode": job.exit_code,
        "reason": job.reason,
        "workdirBytes": job.workdir_bytes,
        "createdAt": _iso(job.created_at),
        "startedAt": _iso(job.started_at),
        "endedAt": _iso(job.ended_at),
        "position": None,
        "waitedSeconds": None,
        "waitReason": None,
    }
    data.update(extra or {})
    return data


def job_detail(service: Provisioner, job: Job) -> dict[str, Any]:
    """The job with its queue position, its cost so far and its events."""
    from provisioner.ops.job_costs import pool_cost
    from provisioner.ops.pools_service import queue_view

    cost = pool_cost(service, pool_rows.pool_by_id(service.ledger, job.pool_id)).jobs.get(job.id)
    data = job_json(service, job, queue_view(service, [job]).get(job.id))
    data["cost"] = None if cost is None else float(cost)
    data["events"] = [
        {"type": e.type, "status": e.status, "at": _iso(e.at), "detail": e.detail}
        for e in job_rows.job_events(service.ledger, job.id)
    ]
    return data


def job_output(service: Provisioner, job: Job) -> str:
    """The output saved when the job ended, or (while it runs) what its VM has so far."""
    from provisioner.ops.scheduler import job_log_path
    from provisioner.remote import jobrunner, ssh

    saved = job_log_path(service.settings.home, job.id)
    if saved.exists():
        return saved.read_text()
    if job.status == "RUNNING" and job.instance_id:
        try:
            target = service.ssh_target(service.ledger.require(job.instance_id))
            code, out, _ = ssh.capture(target, jobrunner.output_command(job.id))
            return out if code == 0 else ""
        except Exception:  # the VM is busy or gone: nothing new to show now
            return ""
    return ""
