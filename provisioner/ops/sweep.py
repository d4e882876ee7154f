"""What the reaper's steps share: the sweep's result, and `Sweep`, the context every step
function takes (the service, its ledger and leases; running claimed destroys side by side).

The reaper (reaper.py) composes the steps, each in its own module: reap_expired.py (expired and
preempted), reap_recover.py, reap_retry.py, reap_orphans.py (orphans and the daily gc). A new
periodic duty (the pools' scheduler) is a sibling that the serve loop runs beside the reaper,
not another step inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provisioner.ledger.models import Instance
from provisioner.ops.service import Provisioner
from provisioner.ops.service_core import _iso
from provisioner.rules.errors import ProvisionerError

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


class Sweep:
    def __init__(self, service: Provisioner, *, take_over_ups: bool = True):
        """`take_over_ups=False`: leave interrupted PROVISIONING ups to `serve`'s pickup loop,
        which finishes them rather than destroying them (#6)."""
        self.service = service
        self.take_over_ups = take_over_ups
        self.settings = service.settings
        self.ledger = service.ledger
        self.leases = service.leases
        self.last_gc: datetime | None = None

    def run_jobs(self, jobs: list[Job], result: SweepResult) -> None:
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

    def busy(self, instance: Instance) -> bool:
        """Someone holds a live lease on it (an up still running, a destroy under way)."""
        return instance.lease_owner is not None and not self.leases.is_stale(instance)
