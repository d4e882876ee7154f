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

The steps live in their own modules (reap_expired.py, reap_recover.py, reap_retry.py,
reap_orphans.py; what they share in sweep.py); this module composes them and runs the loop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime

from provisioner.ledger.admission import purge_keys as purge_idempotency_keys
from provisioner.ledger.heartbeats import record_sweep
from provisioner.ledger.idempotency import WINDOW as KEY_WINDOW
from provisioner.ops.leases import make_owner
from provisioner.ops.reap_expired import expire, preempted
from provisioner.ops.reap_orphans import gc, orphans
from provisioner.ops.reap_recover import recover
from provisioner.ops.reap_retry import retry
from provisioner.ops.service import Provisioner
from provisioner.ops.sweep import Action, Sweep, SweepResult
from provisioner.rules.errors import ProvisionerError

__all__ = ["STEPS", "Action", "Reaper", "SweepResult", "start_reaper"]

log = logging.getLogger(__name__)


def remote(sweep: Sweep, result: SweepResult) -> None:
    for kind, target, detail in sweep.service.sweep_remote():
        result.add(kind, target, "failed" if detail.startswith("failed") else "done", detail)


def purge_keys(sweep: Sweep, result: SweepResult) -> None:
    """Idempotency-Keys live 24 h; an index on created_at keeps this delete cheap."""
    purge_idempotency_keys(sweep.ledger, older_than=result.at - KEY_WINDOW)


def pools(sweep: Sweep, result: SweepResult) -> None:
    """Pools and jobs (#22): the scheduler runs beside the reaper's own steps (ops/scheduler.py)."""
    from provisioner.ops.scheduler import Scheduler

    Scheduler(sweep.service, owner=getattr(sweep, "owner", "reaper")).sweep(result.add)


# One sweep, in order; a step's name labels its failure in the result.
STEPS: tuple[Callable[[Sweep, SweepResult], None], ...] = (
    expire,
    preempted,
    recover,
    retry,
    gc,
    orphans,
    remote,
    purge_keys,
    pools,
)


class Reaper(Sweep):
    def __init__(self, service: Provisioner, *, take_over_ups: bool = True):
        super().__init__(service, take_over_ups=take_over_ups)
        self.owner = make_owner()  # this reaper's heartbeat row
        self.interval: float | None = None  # set by run(); None: one sweep at a time

    def sweep(self) -> SweepResult:
        result = SweepResult(at=self.service.clock())
        for step in STEPS:
            try:
                step(self, result)
            except ProvisionerError as exc:  # one step's trouble must not stop the others
                result.add(step.__name__.strip("_"), "-", "failed", exc.message)
        self._heartbeat(result.at)
        return result

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
