"""The reaper's step 3: failed destroys whose backoff has passed are tried again; until one
succeeds the instance is not TERMINATED and still bills."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import col

from provisioner.ledger.models import Instance
from provisioner.ops.sweep import Job, Sweep, SweepResult
from provisioner.rules.errors import ConflictError, InvalidTransitionError
from provisioner.rules.lifecycle import Status


def retry(sweep: Sweep, result: SweepResult) -> None:
    now = sweep.service.clock()
    jobs: list[Job] = []
    for instance in sweep.ledger.list(statuses=(Status.STOPPING, Status.FAILED), unended=True):
        if sweep.busy(instance):
            continue
        if instance.next_retry_at is not None and instance.next_retry_at > now:
            result.waiting += 1
            continue
        guard = [
            col(Instance.next_retry_at).is_(None) | (col(Instance.next_retry_at) <= now),
        ]
        try:
            claimed = sweep.service.claim_destroy(instance, reason="retry", where=guard)
        except (ConflictError, InvalidTransitionError):
            continue
        result.retried += 1
        jobs.append(("retried", claimed, _retry_job(sweep, claimed)))
    sweep.run_jobs(jobs, result)


def _retry_job(sweep: Sweep, claimed: Instance) -> Callable[[], str]:
    def job() -> str:
        sweep.service.finish_destroy(claimed, reason="retried destroy")
        return f"destroyed on attempt {claimed.destroy_attempts + 1}"

    return job
