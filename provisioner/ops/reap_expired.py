"""The reaper's first steps: instances past `expiresAt` (1) and instances whose VM vanished
(1b: preempted, evicted, deleted outside provisioner), claimed and destroyed side by side."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from sqlmodel import col

from provisioner.engine.base import Liveness
from provisioner.ledger.models import Instance
from provisioner.ops.preemption import handle_preempted
from provisioner.ops.service_core import _iso, log
from provisioner.ops.sweep import Job, Sweep, SweepResult
from provisioner.rules.errors import ConflictError, InvalidTransitionError, ProvisionerError
from provisioner.rules.lifecycle import EXPIRABLE, Status


def expire(sweep: Sweep, result: SweepResult) -> None:
    now = sweep.service.clock()
    jobs: list[Job] = []
    for instance in sweep.ledger.list(statuses=EXPIRABLE, expired_by=now):
        if sweep.busy(instance):
            continue
        try:
            claimed = sweep.service.claim_destroy(
                instance, reason="ttl", where=[col(Instance.expires_at) <= now]
            )
        except (ConflictError, InvalidTransitionError):
            continue  # another reaper or a user got there first, or it was extended
        result.expired += 1
        jobs.append(("expired", claimed, _expired_job(sweep, claimed)))
    sweep.run_jobs(jobs, result)


def _expired_job(sweep: Sweep, claimed: Instance) -> Callable[[], str]:
    def job() -> str:
        sweep.service.finish_destroy(claimed, reason="ttl")
        return f"expired at {_iso(claimed.expires_at)}"

    return job


def preempted(sweep: Sweep, result: SweepResult) -> None:
    live = [
        i for i in sweep.ledger.list(statuses=(Status.READY, Status.RUNNING)) if not sweep.busy(i)
    ]
    if not live:
        return
    workers = min(sweep.settings.reap_parallel, len(live))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="liveness") as pool:
        checks = list(pool.map(partial(_liveness, sweep), live))
    jobs: list[Job] = []
    for instance, check in zip(live, checks, strict=True):
        if check is not None and check.alive and check.stopped:
            jobs.extend(_idle_stopped(sweep, instance, check))
            continue
        if check is None or check.alive is not False:
            continue
        try:
            claimed = sweep.service.claim_destroy(instance, reason="preempted")
        except (ConflictError, InvalidTransitionError):
            continue
        result.preempted += 1
        vanished = check.vanished_at or sweep.service.clock()
        jobs.append(
            ("preempted", claimed, partial(handle_preempted, sweep.service, claimed, vanished))
        )
    sweep.run_jobs(jobs, result)


def _idle_stopped(sweep: Sweep, instance: Instance, check: Liveness) -> list[Job]:
    """A VM whose OS powered itself off (the idle guard) but that still bills: Azure keeps a
    VM halted from inside allocated, and the VM holds no credential to deallocate itself. The
    sweep destroys it (#25); billed until the destroy, as the cloud bills it."""
    try:
        claimed = sweep.service.claim_destroy(instance, reason="idle")
    except (ConflictError, InvalidTransitionError):
        return []

    def job() -> str:
        sweep.service.finish_destroy(claimed, reason="idle")
        return f"its OS powered off ({check.detail or 'stopped'}); destroyed"

    return [("idle", claimed, job)]


def _liveness(sweep: Sweep, instance: Instance) -> Liveness | None:
    engine = sweep.service.engine_for(instance.engine)
    check = getattr(engine, "liveness", None)
    if check is None:
        return None
    try:
        found: Liveness = check(instance.stack_name)
    except ProvisionerError as exc:
        log.info("liveness of %s unknown: %s", instance.id, exc.message)
        return None
    return found
