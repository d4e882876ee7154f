"""The reaper: one sweep makes sure nothing outlives its time, nothing leaks and nothing is lost.

Each sweep, in order:

1. expired: CONFIGURING/READY/RUNNING instances past `expiresAt` are terminated (reason `ttl`).
1b. preempted: READY/RUNNING instances whose VM vanished (spot interruption, eviction, a delete
   outside provisioner; `Engine.liveness`, checked side by side) are claimed, what remains of
   their stack is destroyed, and they end TERMINATED (reason `preempted`) or, if the request
   asked to `recover`, are relaunched under the same id on the next candidate (#12).
2. recovered: PROVISIONING/CONFIGURING/STOPPING instances whose lease is stale (the process
   running their up or destroy died) are taken over: the stack is unlocked and refreshed
   (`Engine.recover`), then an interrupted up is destroyed and ends FAILED ("interrupted"), an
   interrupted destroy is completed and ends TERMINATED. A queued up whose replica died before
   any replica started it is cancelled (FAILED, error code CANCELLED; nothing was created).
3. retried: failed destroys (STOPPING, and FAILED instances whose clean-up failed) whose backoff
   has passed are tried again. Until one succeeds the instance is not TERMINATED and still bills.
4. orphans: stacks in the backend that hold resources but whose ledger row is missing or ended
   are reported, and destroyed when tagged by provisioner and older than the grace period.

Every action starts with a claim (a conditional UPDATE; on PostgreSQL after `SELECT ... FOR UPDATE
SKIP LOCKED`), so any number of reapers can sweep the same ledger: each instance is acted on once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlmodel import col

from provisioner.engine.base import Liveness, StackInfo
from provisioner.ledger.admission import purge_keys
from provisioner.ledger.heartbeats import record_sweep
from provisioner.ledger.idempotency import WINDOW as KEY_WINDOW
from provisioner.ledger.models import Instance
from provisioner.ops.leases import QUEUED, RELEASED, make_owner
from provisioner.ops.preemption import handle_preempted
from provisioner.ops.service import Provisioner
from provisioner.ops.service_core import _iso
from provisioner.rules import lifecycle
from provisioner.rules.errors import (
    CloudError,
    ConflictError,
    EngineUnavailableError,
    InvalidTransitionError,
    ProvisionerError,
    ProvisioningFailedError,
)
from provisioner.rules.lifecycle import EXPIRABLE, Status
from stacks.spec import instance_of_stack

log = logging.getLogger(__name__)

RECOVERABLE = (Status.PROVISIONING, Status.CONFIGURING, Status.STOPPING)
TAG_PREFIX = "provisioner:"
Job = tuple[str, Instance, Callable[[], str]]  # (kind, claimed instance, the work)


@dataclass
class Action:
    kind: str  # expired | recovered | retried | orphan
    target: str  # instance id or stack name
    outcome: str  # done | failed | reported
    detail: str

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "target": self.target,
            "outcome": self.outcome,
            "detail": self.detail,
        }


@dataclass
class SweepResult:
    """What one sweep did. `orphans` counts what is still orphaned after the sweep."""

    at: datetime
    expired: int = 0
    preempted: int = 0
    recovered: int = 0
    retried: int = 0
    orphans: int = 0
    orphans_destroyed: int = 0
    failed: int = 0
    waiting: int = 0  # failed destroys whose backoff has not passed yet: still billing
    actions: list[Action] = field(default_factory=list)

    def add(self, kind: str, target: str, outcome: str, detail: str) -> None:
        self.actions.append(Action(kind, target, outcome, detail))
        if outcome == "failed":
            self.failed += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "expired": self.expired,
            "preempted": self.preempted,
            "recovered": self.recovered,
            "retried": self.retried,
            "orphans": self.orphans,
            "orphansDestroyed": self.orphans_destroyed,
            "failed": self.failed,
            "waiting": self.waiting,
            "actions": [a.to_json() for a in self.actions],
        }


class Reaper:
    def __init__(self, service: Provisioner, *, take_over_ups: bool = True):
        """`take_over_ups=False`: leave interrupted PROVISIONING ups to `serve`'s pickup loop,
        which finishes them rather than destroying them (#6)."""
        self.service = service
        self.take_over_ups = take_over_ups
        self.settings = service.settings
        self.ledger = service.ledger
        self.leases = service.leases
        self._last_gc: datetime | None = None
        self.owner = make_owner()  # this reaper's heartbeat row
        self.interval: float | None = None  # set by run(); None: one sweep at a time

    def sweep(self) -> SweepResult:
        result = SweepResult(at=self.service.clock())
        for step in (
            self._expire,
            self._preempted,
            self._recover,
            self._retry,
            self._gc,
            self._orphans,
            self._remote,
            self._purge_keys,
            self._pools,
        ):
            try:
                step(result)
            except ProvisionerError as exc:  # one step's trouble must not stop the others
                result.add(step.__name__.strip("_"), "-", "failed", exc.message)
        self._heartbeat(result.at)
        return result

    def _pools(self, result: SweepResult) -> None:  # pools and jobs (#22): ops/scheduler.py
        from provisioner.ops.scheduler import Scheduler

        Scheduler(self.service, owner=self.owner).sweep(result.add)

    def _heartbeat(self, at: datetime) -> None:
        """Say in the ledger that a reaper watches its expiries (`up` and `doctor` read it)."""
        try:
            record_sweep(
                self.ledger,
                owner=self.owner,
                host=socket.gethostname(),
                pid=os.getpid(),
                interval_seconds=self.interval,
                at=at,
            )
        except Exception:  # the sweep's work is done; a missed heartbeat only costs a warning
            log.warning("could not record the reaper's heartbeat", exc_info=True)

    def run(
        self,
        *,
        interval: float,
        stop: threading.Event,
        on_sweep: Callable[[SweepResult], None] | None = None,
    ) -> None:
        """Sweep every `interval` seconds until `stop` is set (`reap`, and `serve`'s thread)."""
        self.interval = interval
        while not stop.is_set():
            try:
                result = self.sweep()
                if on_sweep is not None:
                    on_sweep(result)
            except Exception:  # a bug in one sweep must not end the reaper
                log.exception("reaper sweep failed")
            stop.wait(interval)

    # -- 5. key files and SSH endpoints (#11) ---------------------------------------------------

    def _remote(self, result: SweepResult) -> None:
        for kind, target, detail in self.service.sweep_remote():
            result.add(kind, target, "failed" if detail.startswith("failed") else "done", detail)

    # -- 1. expired ---------------------------------------------------------------------------

    def _expire(self, result: SweepResult) -> None:
        now = self.service.clock()
        jobs: list[Job] = []
        for instance in self.ledger.list(statuses=EXPIRABLE, expired_by=now):
            if self._busy(instance):
                continue
            try:
                claimed = self.service.claim_destroy(
                    instance, reason="ttl", where=[col(Instance.expires_at) <= now]
                )
            except (ConflictError, InvalidTransitionError):
                continue  # another reaper or a user got there first, or it was extended
            result.expired += 1
            jobs.append(("expired", claimed, self._expired_job(claimed)))
        self._run(jobs, result)

    def _expired_job(self, claimed: Instance) -> Callable[[], str]:
        def job() -> str:
            self.service.finish_destroy(claimed, reason="ttl")
            return f"expired at {_iso(claimed.expires_at)}"

        return job

    # -- 1b. preempted ------------------------------------------------------------------------

    def _preempted(self, result: SweepResult) -> None:
        live = [
            i
            for i in self.ledger.list(statuses=(Status.READY, Status.RUNNING))
            if not self._busy(i)
        ]
        if not live:
            return
        workers = min(self.settings.reap_parallel, len(live))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="liveness") as pool:
            checks = list(pool.map(self._liveness, live))
        jobs: list[Job] = []
        for instance, check in zip(live, checks, strict=True):
            if check is None or check.alive is not False:
                continue
            try:
                claimed = self.service.claim_destroy(instance, reason="preempted")
            except (ConflictError, InvalidTransitionError):
                continue
            result.preempted += 1
            vanished = check.vanished_at or self.service.clock()
            jobs.append(
                ("preempted", claimed, partial(handle_preempted, self.service, claimed, vanished))
            )
        self._run(jobs, result)

    def _liveness(self, instance: Instance) -> Liveness | None:
        engine = self.service.engine_for(instance.engine)
        check = getattr(engine, "liveness", None)
        if check is None:
            return None
        try:
            found: Liveness = check(instance.stack_name)
        except ProvisionerError as exc:
            log.info("liveness of %s unknown: %s", instance.id, exc.message)
            return None
        return found

    def _run(self, jobs: list[Job], result: SweepResult) -> None:
        """Run the claimed instances' destroys side by side (each takes minutes for real)."""
        if not jobs:
            return
        workers = min(self.settings.reap_parallel, len(jobs))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reaper") as pool:
            futures = [(kind, instance, pool.submit(job)) for kind, instance, job in jobs]
            for kind, instance, future in futures:
                try:
                    detail = future.result()
                except ProvisionerError as exc:
                    result.add(kind, instance.id, "failed", exc.message)
                else:
                    result.add(kind, instance.id, "done", detail)

    def _busy(self, instance: Instance) -> bool:
        """Someone holds a live lease on it (an up still running, a destroy under way)."""
        return instance.lease_owner is not None and not self.leases.is_stale(instance)

    def _purge_keys(self, result: SweepResult) -> None:
        """Idempotency-Keys live 24 h; an index on created_at keeps this delete cheap."""
        purge_keys(self.ledger, older_than=result.at - KEY_WINDOW)

    # -- 2. recovered -------------------------------------------------------------------------

    def _recover(self, result: SweepResult) -> None:
        jobs: list[Job] = []
        for instance in self.ledger.list(statuses=RECOVERABLE):
            if not self.take_over_ups and instance.status != Status.STOPPING.value:
                continue  # an up: the pickup loop's
            if not self._abandoned(instance):
                continue
            if self._queued(instance):
                self._cancel(instance, result)
                continue
            holder = instance.lease_owner or "a process that left no lease"
            operation = "destroy" if instance.status == Status.STOPPING.value else "up"
            claimed = self.leases.claim(
                instance,
                operation="recover",
                event_type="instance:recovering",
                detail=f"taking over the interrupted {operation} of {holder}",
                stale_owner=instance.lease_owner is not None,
            )
            if claimed is None:
                continue
            result.recovered += 1
            jobs.append(
                ("recovered", claimed, partial(self._finish_interrupted, claimed, operation))
            )
        self._run(jobs, result)

    def _abandoned(self, instance: Instance) -> bool:
        if instance.lease_owner is not None:
            return self.leases.is_stale(instance)
        if instance.status == Status.STOPPING.value:
            return False  # a failed destroy waiting for its retry: step 3's
        # PROVISIONING/CONFIGURING without a lease: made before leases existed, or a row whose
        # process never renewed it. Give it one lease period from its last change.
        idle = self.service.clock() - instance.updated_at
        return idle > timedelta(seconds=self.settings.lease_seconds)

    def _queued(self, instance: Instance) -> bool:
        """An up recorded but never started (no process ran any of it)."""
        return instance.status == Status.PROVISIONING.value and (
            instance.operation == QUEUED
            or (instance.operation == "up" and instance.lease_owner is None)  # before #10
        )

    def _cancel(self, instance: Instance, result: SweepResult) -> None:
        """The replica that queued this up is gone and none claimed it: end it (no cloud call;
        nothing was created). A serve replica's pickup loop would have run it instead."""
        holder = instance.lease_owner or "a replica that left no lease"
        try:
            if instance.operation != QUEUED:
                self.ledger.update(instance.id, at=self.service.clock(), operation=QUEUED)
            self.service.cancel_queued(
                instance, reason=f"cancelled by the reaper ({holder} stopped before starting it)"
            )
        except (ConflictError, InvalidTransitionError):
            return  # a replica claimed it, or another sweep cancelled it
        result.recovered += 1
        result.add("recovered", instance.id, "done", f"queued up of {holder} cancelled: FAILED")

    def _finish_interrupted(self, instance: Instance, operation: str) -> str:
        engine = self.service.engine_for(instance.engine)
        try:
            engine.recover(instance.stack_name)
        except ProvisionerError as exc:  # the destroy below says whether it mattered
            self.ledger.note(
                instance.id,
                event_type="instance:warning",
                status=Status(instance.status),
                at=self.service.clock(),
                detail=f"unlocking/refreshing the stack failed: {exc.message}",
            )
        if operation == "destroy":
            self.service.finish_destroy(instance, reason="interrupted destroy completed")
            return "interrupted destroy completed: TERMINATED"
        failure = ProvisioningFailedError(
            "the process running its up stopped before it finished; the reaper took over",
            kind="interrupted",
        )
        try:
            self.service._clean_up_failed_up(instance.id, failure, None)
        finally:
            self.leases.drop(instance.id)
        ended = self.ledger.require(instance.id)
        if ended.terminated_at is None:
            raise CloudError(ended.error or "clean-up destroy failed; it is retried")
        return "interrupted up destroyed: FAILED"

    # -- 3. retried ---------------------------------------------------------------------------

    def _retry(self, result: SweepResult) -> None:
        now = self.service.clock()
        jobs: list[Job] = []
        for instance in self.ledger.list(statuses=(Status.STOPPING, Status.FAILED), unended=True):
            if self._busy(instance):
                continue
            if instance.next_retry_at is not None and instance.next_retry_at > now:
                result.waiting += 1
                continue
            guard = [
                col(Instance.next_retry_at).is_(None) | (col(Instance.next_retry_at) <= now),
            ]
            try:
                claimed = self.service.claim_destroy(instance, reason="retry", where=guard)
            except (ConflictError, InvalidTransitionError):
                continue
            result.retried += 1
            jobs.append(("retried", claimed, self._retry_job(claimed)))
        self._run(jobs, result)

    def _retry_job(self, claimed: Instance) -> Callable[[], str]:
        def job() -> str:
            self.service.finish_destroy(claimed, reason="retried destroy")
            return f"destroyed on attempt {claimed.destroy_attempts + 1}"

        return job

    # -- gc, daily (#13): fewer stacks for the orphan sweep to list ----------------------------

    def _gc(self, result: SweepResult) -> None:
        from provisioner.ops.gc import collect

        now = self.service.clock()
        every = timedelta(hours=self.settings.gc_every_hours)
        if self._last_gc is not None and now - self._last_gc < every:
            return
        self._last_gc = now
        done = collect(self.service, older_than=timedelta(days=self.settings.gc_older_than_days))
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

    # -- 4. orphans ---------------------------------------------------------------------------

    def _orphans(self, result: SweepResult) -> None:
        engines = {self.service.default_engine} | self.ledger.engines_in_use(lifecycle.ACTIVE)
        for name in sorted(engines):
            engine = self.service.engine_for(name)
            try:
                stacks = engine.list_stacks()
            except EngineUnavailableError as exc:
                result.add("orphan", f"{name} engine", "skipped", exc.message)
                continue
            except ProvisionerError as exc:
                result.add(
                    "orphan", f"{name} engine", "failed", f"cannot list stacks: {exc.message}"
                )
                continue
            for stack in stacks:
                self._orphan(name, stack, result)

    def _orphan(self, engine_name: str, stack: StackInfo, result: SweepResult) -> None:
        if not stack.resource_count:
            return
        # One instance may own several stacks, one per attempt (`<id>`, `<id>-a2`, ...): only the
        # one its row points at is live; a live instance's other attempts must hold nothing.
        row = self.ledger.get(instance_of_stack(stack.name))
        ended = row is not None and (
            row.status == Status.TERMINATED.value
            or (row.status == Status.FAILED.value and row.terminated_at is not None)
        )
        if row is not None and not ended:
            if stack.name == row.stack_name or self._busy(row):
                return  # a live instance's stack, or its failover is under way
            why = f"a failed attempt of {row.id} (now on {row.stack_name})"
            row = None  # the row is live: destroy the leftover without claiming it
        else:
            why = "no ledger row" if row is None else f"ledger says {row.status}"
        engine = self.service.engine_for(engine_name)
        tags = stack.tags or engine.stack_tags(stack.name)
        grace = timedelta(minutes=self.settings.orphan_grace_minutes)
        now = self.service.clock()
        if not any(key.startswith(TAG_PREFIX) for key in tags):
            result.orphans += 1
            result.add("orphan", stack.name, "reported", f"{why}; not tagged by provisioner")
            return
        if stack.last_update is None or now - stack.last_update < grace:
            result.orphans += 1
            result.add("orphan", stack.name, "reported", f"{why}; inside the grace period")
            return
        if row is not None:
            claimed = self.leases.claim(
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
                self.ledger.note(
                    row.id,
                    event_type="instance:orphan",
                    status=Status(row.status),
                    at=now,
                    detail="its leftover resources were destroyed",
                )
        finally:
            if row is not None:
                self.ledger.update(row.id, at=now, **RELEASED)
                self.leases.drop(row.id)


def start_reaper(
    service: Provisioner, *, interval: float | None = None, take_over_ups: bool = True
) -> threading.Event:
    """Run sweeps in a daemon thread (for `provisioner serve`); set the returned event to stop."""
    stop = threading.Event()
    every = interval if interval is not None else service.settings.reap_interval_seconds
    thread = threading.Thread(
        target=Reaper(service, take_over_ups=take_over_ups).run,
        kwargs={"interval": every, "stop": stop},
        name="provisioner-reaper",
        daemon=True,
    )
    thread.start()
    return stop
