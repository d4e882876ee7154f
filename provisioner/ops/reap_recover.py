"""The reaper's step 2: ups and destroys whose process died (a stale lease) are taken over; a
queued up nobody started is cancelled."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from provisioner.ledger.models import Instance
from provisioner.ops.leases import QUEUED
from provisioner.ops.sweep import Job, Sweep, SweepResult
from provisioner.rules.errors import (
    CloudError,
    ConflictError,
    InvalidTransitionError,
    ProvisionerError,
    ProvisioningFailedError,
)
from provisioner.rules.lifecycle import Status

RECOVERABLE = (Status.PROVISIONING, Status.CONFIGURING, Status.STOPPING)


def recover(sweep: Sweep, result: SweepResult) -> None:
    jobs: list[Job] = []
    for instance in sweep.ledger.list(statuses=RECOVERABLE):
        if not sweep.take_over_ups and instance.status != Status.STOPPING.value:
            continue  # an up: the pickup loop's
        if not _abandoned(sweep, instance):
            continue
        if _queued(instance):
            _cancel(sweep, instance, result)
            continue
        holder = instance.lease_owner or "a process that left no lease"
        operation = "destroy" if instance.status == Status.STOPPING.value else "up"
        claimed = sweep.leases.claim(
            instance,
            operation="recover",
            event_type="instance:recovering",
            detail=f"taking over the interrupted {operation} of {holder}",
            stale_owner=instance.lease_owner is not None,
        )
        if claimed is None:
            continue
        result.recovered += 1
        jobs.append(("recovered", claimed, partial(_finish_interrupted, sweep, claimed, operation)))
    sweep.run_jobs(jobs, result)


def _abandoned(sweep: Sweep, instance: Instance) -> bool:
    if instance.lease_owner is not None:
        return sweep.leases.is_stale(instance)
    if instance.status == Status.STOPPING.value:
        return False  # a failed destroy waiting for its retry: step 3's
    # PROVISIONING/CONFIGURING without a lease: made before leases existed, or a row whose
    # process never renewed it. Give it one lease period from its last change.
    idle = sweep.service.clock() - instance.updated_at
    return idle > timedelta(seconds=sweep.settings.lease_seconds)


def _queued(instance: Instance) -> bool:
    """An up recorded but never started (no process ran any of it)."""
    return instance.status == Status.PROVISIONING.value and (
        instance.operation == QUEUED
        or (instance.operation == "up" and instance.lease_owner is None)  # before #10
    )


def _cancel(sweep: Sweep, instance: Instance, result: SweepResult) -> None:
    """The replica that queued this up is gone and none claimed it: end it (no cloud call;
    nothing was created). A serve replica's pickup loop would have run it instead."""
    holder = instance.lease_owner or "a replica that left no lease"
    try:
        if instance.operation != QUEUED:
            sweep.ledger.update(instance.id, at=sweep.service.clock(), operation=QUEUED)
        sweep.service.cancel_queued(
            instance, reason=f"cancelled by the reaper ({holder} stopped before starting it)"
        )
    except (ConflictError, InvalidTransitionError):
        return  # a replica claimed it, or another sweep cancelled it
    result.recovered += 1
    result.add("recovered", instance.id, "done", f"queued up of {holder} cancelled: FAILED")


def _finish_interrupted(sweep: Sweep, instance: Instance, operation: str) -> str:
    engine = sweep.service.engine_for(instance.engine)
    try:
        engine.recover(instance.stack_name)
    except ProvisionerError as exc:  # the destroy below says whether it mattered
        sweep.ledger.note(
            instance.id,
            event_type="instance:warning",
            status=Status(instance.status),
            at=sweep.service.clock(),
            detail=f"unlocking/refreshing the stack failed: {exc.message}",
        )
    if operation == "destroy":
        sweep.service.finish_destroy(instance, reason="interrupted destroy completed")
        return "interrupted destroy completed: TERMINATED"
    failure = ProvisioningFailedError(
        "the process running its up stopped before it finished; the reaper took over",
        kind="interrupted",
    )
    try:
        sweep.service._clean_up_failed_up(instance.id, failure, None)
    finally:
        sweep.leases.drop(instance.id)
    ended = sweep.ledger.require(instance.id)
    if ended.terminated_at is None:
        raise CloudError(ended.error or "clean-up destroy failed; it is retried")
    return "interrupted up destroyed: FAILED"
