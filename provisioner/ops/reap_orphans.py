"""The reaper's step 4 and the daily gc: stacks holding resources whose ledger row is missing or
ended are reported, and destroyed when tagged by provisioner and past the grace period; ended
instances older than the gc age are collected (#13) so there are fewer stacks to list."""

from __future__ import annotations

from datetime import timedelta

from provisioner.engine.base import StackInfo
from provisioner.ops.leases import RELEASED
from provisioner.ops.sweep import Sweep, SweepResult
from provisioner.rules import lifecycle
from provisioner.rules.errors import EngineUnavailableError, ProvisionerError
from provisioner.rules.lifecycle import Status
from stacks.spec import instance_of_stack

TAG_PREFIX = "provisioner:"


def gc(sweep: Sweep, result: SweepResult) -> None:
    from provisioner.ops.gc import collect

    now = sweep.service.clock()
    every = timedelta(hours=sweep.settings.gc_every_hours)
    if sweep.last_gc is not None and now - sweep.last_gc < every:
        return
    sweep.last_gc = now
    done = collect(sweep.service, older_than=timedelta(days=sweep.settings.gc_older_than_days))
    if done.collected:
        result.add(
            "gc",
            "-",
            "done",
            f"{done.collected} ended instance(s) collected: {done.stacks_removed} stack(s) "
            f"removed, {done.events_archived} event row(s) archived",
        )
    for failure in done.failed:
        result.add("gc", failure["instanceId"], "failed", failure["error"])


def orphans(sweep: Sweep, result: SweepResult) -> None:
    engines = {sweep.service.default_engine} | sweep.ledger.engines_in_use(lifecycle.ACTIVE)
    for name in sorted(engines):
        engine = sweep.service.engine_for(name)
        try:
            stacks = engine.list_stacks()
        except EngineUnavailableError as exc:
            result.add("orphan", f"{name} engine", "skipped", exc.message)
            continue
        except ProvisionerError as exc:
            result.add("orphan", f"{name} engine", "failed", f"cannot list stacks: {exc.message}")
            continue
        for stack in stacks:
            _orphan(sweep, name, stack, result)


def _orphan(sweep: Sweep, engine_name: str, stack: StackInfo, result: SweepResult) -> None:
    if not stack.resource_count:
        return
    # One instance may own several stacks, one per attempt (`<id>`, `<id>-a2`, ...): only the
    # one its row points at is live; a live instance's other attempts must hold nothing.
    row = sweep.ledger.get(instance_of_stack(stack.name))
    ended = row is not None and (
        row.status == Status.TERMINATED.value
        or (row.status == Status.FAILED.value and row.terminated_at is not None)
    )
    if row is not None and not ended:
        if stack.name == row.stack_name or sweep.busy(row):
            return  # a live instance's stack, or its failover is under way
        why = f"a failed attempt of {row.id} (now on {row.stack_name})"
        row = None  # the row is live: destroy the leftover without claiming it
    else:
        why = "no ledger row" if row is None else f"ledger says {row.status}"
    engine = sweep.service.engine_for(engine_name)
    tags = stack.tags or engine.stack_tags(stack.name)
    grace = timedelta(minutes=sweep.settings.orphan_grace_minutes)
    now = sweep.service.clock()
    if not any(key.startswith(TAG_PREFIX) for key in tags):
        result.orphans += 1
        result.add("orphan", stack.name, "reported", f"{why}; not tagged by provisioner")
        return
    if stack.last_update is None or now - stack.last_update < grace:
        result.orphans += 1
        result.add("orphan", stack.name, "reported", f"{why}; inside the grace period")
        return
    if row is not None:
        claimed = sweep.leases.claim(
            row,
            operation="destroy",
            event_type="instance:orphan",
            detail=f"its stack still holds {stack.resource_count} resource(s): destroying",
        )
        if claimed is None:
            result.orphans += 1
            return
    try:
        engine.destroy(stack.name, message=f"provisioner reap: orphaned stack ({why})")
    except ProvisionerError as exc:
        result.orphans += 1
        result.add("orphan", stack.name, "failed", f"{why}; destroy failed: {exc.message}")
    else:
        result.orphans_destroyed += 1
        result.add("orphan", stack.name, "done", f"{why}; destroyed")
        if row is not None:
            sweep.ledger.note(
                row.id,
                event_type="instance:orphan",
                status=Status(row.status),
                at=now,
                detail="its leftover resources were destroyed",
            )
    finally:
        if row is not None:
            sweep.ledger.update(row.id, at=now, **RELEASED)
            sweep.leases.drop(row.id)
