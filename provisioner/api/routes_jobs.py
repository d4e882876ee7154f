"""`/api/jobs` (#22): submit, list, show, cancel a job and read its output. Short adapters over
`ops/pools_service.py`, the calls the CLI's `submit`, `jobs` and `job` commands make.

A non-admin token acts as its own user: it submits and lists only its own jobs, and another
user's job does not exist for it (404), as with instances. The workdir travels in the JSON body
as base64 of a tar.gz (no multipart dependency); `ops/workdir_upload.py` checks and unpacks it
and the folder goes through the same `pack_workdir` + `submit` as `submit --workdir`."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from provisioner.api.auth import Caller, State, acting_user
from provisioner.api.routes_instances import ERRORS
from provisioner.api.schemas import ErrorOut, WholeNumber, _In
from provisioner.api.sim_guard import refuse_job_command
from provisioner.api.state import ApiState
from provisioner.ledger import jobs as job_rows
from provisioner.ledger.pool_models import Job
from provisioner.ledger.pools import require_pool
from provisioner.ledger.tokens import Principal
from provisioner.ops import pools_service
from provisioner.ops.job_views import job_detail, job_json, job_output
from provisioner.ops.workdir_upload import unpacked_workdir
from provisioner.rules.errors import NotFoundError, ValidationError, shown_id
from provisioner.rules.jobs import parse_job_status

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


class JobIn(_In):
    pool: str = Field(description="The pool to run on")
    command: list[str] = Field(
        description='One shell command line (["python train.py"]) or argv words, quoted for you'
    )
    user_id: str | None = Field(default=None, description="Default: the token's user")
    task_id: str | None = Field(default=None, description="1..64 of A-Z a-z 0-9 . _ -")
    workdir: str | None = Field(
        default=None,
        description="base64 of a tar.gz (at most PROVISIONER_MAX_WORKDIR_BYTES): the folder the "
        "command runs in; only plain files and folders, relative paths without '..'",
    )
    priority: WholeNumber = Field(default=0, ge=-1000, le=1000, description="Higher runs first")
    max_runtime_minutes: WholeNumber | None = Field(
        default=None, ge=1, le=525_600, description="Stop and fail it after this many minutes"
    )
    retries: WholeNumber = Field(
        default=0, ge=0, le=10, description="Requeues if its VM is preempted (0..10)"
    )


def owned_job(state: ApiState, caller: Principal, job_id: str) -> Job:
    """The job, if the caller may see it; another user's job does not exist for them."""
    job = job_rows.get_job(state.service.ledger, job_id)
    if not caller.admin and job.user_id != caller.user_id:
        raise NotFoundError(f"Job {shown_id(job_id)} not found")
    return job


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("workdir", "workdir must be base64 of a tar.gz") from None


def _one(state: ApiState, job: Job) -> dict[str, Any]:
    view = pools_service.queue_view(state.service, [job])
    return {"success": True, "job": job_json(state.service, job, view.get(job.id))}


@router.post(
    "",
    status_code=201,
    summary="Queue a job on a pool",
    responses={**ERRORS, 402: {"model": ErrorOut, "description": "Over the user's budget"}},
)
def submit(body: JobIn, caller: Caller, state: State) -> dict[str, Any]:
    """201 with the job QUEUED and its position; a sweep assigns and runs it."""
    service = state.service
    user = acting_user(caller, body.user_id) or caller.user_id
    require_pool(service.ledger, body.pool)  # unknown pool: 400 naming `pool`, before unpacking
    refuse_job_command(state, caller)
    data = None
    if body.workdir is not None:
        limit = service.settings.max_workdir_bytes
        archive = _decode(body.workdir)
        with unpacked_workdir(archive, limit, service.settings.home) as folder:
            data = pools_service.pack_workdir(folder, limit)
    job = pools_service.submit(
        service,
        body.pool,
        list(body.command),
        user_id=user,
        task_id=body.task_id,
        workdir=data,
        priority=body.priority,
        max_runtime=body.max_runtime_minutes,
        retries=body.retries,
    )
    return _one(state, job)


@router.get("", summary="The queue and recent jobs", responses=ERRORS)
def list_(
    caller: Caller,
    state: State,
    pool: Annotated[str | None, Query(description="Only this pool's jobs")] = None,
    user_id: Annotated[
        str | None, Query(alias="userId", description="Another user's needs an admin token")
    ] = None,
    status: Annotated[str | None, Query(description="QUEUED, RUNNING, SUCCEEDED...")] = None,
) -> dict[str, Any]:
    """Each queued job with its position, time waited and why it waits."""
    service = state.service
    user = acting_user(caller, user_id, everyone=True)
    pool_id = require_pool(service.ledger, pool).id if pool else None
    statuses = [parse_job_status(status)] if status else None
    rows = job_rows.list_jobs(service.ledger, pool_id=pool_id, user_id=user, statuses=statuses)
    view = pools_service.queue_view(service, rows)
    jobs = [job_json(service, j, view.get(j.id)) for j in rows]
    return {"success": True, "jobs": jobs, "count": len(jobs)}


@router.get("/{job_id}", summary="A job, its events and cost so far", responses=ERRORS)
def show(job_id: str, caller: Caller, state: State) -> dict[str, Any]:
    return {"success": True, "job": job_detail(state.service, owned_job(state, caller, job_id))}


@router.delete("/{job_id}", summary="Cancel a job", responses=ERRORS)
def cancel(job_id: str, caller: Caller, state: State) -> dict[str, Any]:
    """A queued job is CANCELLED now; a running one is stopped at the next sweep (409 if the job
    has ended already)."""
    owned_job(state, caller, job_id)
    return _one(state, pools_service.cancel(state.service, job_id))


@router.get("/{job_id}/logs", summary="The job's output (stdout and stderr)", responses=ERRORS)
def logs(job_id: str, caller: Caller, state: State) -> dict[str, Any]:
    """Saved when the job ends; while it runs, what its VM has so far."""
    job = owned_job(state, caller, job_id)
    return {
        "success": True,
        "jobId": job.id,
        "status": job.status,
        "output": job_output(state.service, job),
    }
