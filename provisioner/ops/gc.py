"""`provisioner gc`: stacks and ledger rows that don't pile up (#13).

One stack per VM means a backend that grows forever and an orphan sweep that lists every stack
every minute. For each instance that ended before the window:

1. its stack's update history is exported into the ledger (`stack_history`), so `history ID`
   still answers once the stack is gone;
2. its (destroyed, empty) stack is removed from a self-managed backend (file://, s3://,
   azblob://, the simulation's); on Pulumi Cloud, whose console is the users' audit trail, it is
   kept unless `remove_stacks`;
3. its event rows move to `<home>/archive/events-<YYYY-MM-DD>.jsonl`. Instance rows stay, so no
   statistic over the archived period changes.

A stack that still holds resources is never removed (the engine refuses): the orphan sweep's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from provisioner.ledger import archive
from provisioner.ledger.models import Instance
from provisioner.ops.service import Provisioner
from provisioner.ops.service_core import _iso
from provisioner.rules.errors import ProvisionerError

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class GcResult:
    at: datetime
    cutoff: datetime
    collected: int = 0
    history_entries: int = 0
    stacks_removed: int = 0
    stacks_kept: int = 0
    events_archived: int = 0
    archive_file: str | None = None
    failed: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "cutoff": _iso(self.cutoff),
            "collected": self.collected,
            "historyEntries": self.history_entries,
            "stacksRemoved": self.stacks_removed,
            "stacksKept": self.stacks_kept,
            "eventsArchived": self.events_archived,
            "archiveFile": self.archive_file,
            "failed": self.failed,
        }


def parse_window(text: str) -> timedelta:
    """ "30d", "12h", "90m" -> timedelta; ValueError naming the rule otherwise."""
    value = text.strip().lower()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if len(value) < 2 or value[-1] not in units or not value[:-1].isdigit():
        raise ValueError(
            f"--older-than must be a number of days, hours or minutes (30d, 12h, 90m), got {text!r}"
        )
    window = timedelta(**{units[value[-1]]: int(value[:-1])})
    if window <= timedelta(0):
        raise ValueError(f"--older-than must be positive, got {text!r}")
    return window


def collect(
    service: Provisioner, *, older_than: timedelta, remove_stacks: bool = False
) -> GcResult:
    now = service.clock()
    result = GcResult(at=now, cutoff=now - older_than)
    path = service.settings.home / "archive" / f"events-{now:%Y-%m-%d}.jsonl"
    while True:
        batch = archive.gc_candidates(service.ledger, result.cutoff, limit=BATCH)
        if not batch:
            break
        done: list[str] = []
        for instance in batch:
            try:
                _collect_one(service, instance, result, remove_stacks=remove_stacks, now=now)
            except ProvisionerError as exc:
                result.failed.append({"instanceId": instance.id, "error": exc.message})
                continue
            done.append(instance.id)
        moved = archive.archive_events(service.ledger, done, path)
        result.events_archived += moved
        if moved:
            result.archive_file = str(path)
        if len(done) < len(batch):
            break  # failures stay uncollected; the next run tries them again
    return result


def _collect_one(
    service: Provisioner,
    instance: Instance,
    result: GcResult,
    *,
    remove_stacks: bool,
    now: datetime,
) -> None:
    engine = service.engine_for(instance.engine)
    stack_name = instance.stack_name
    entries = engine.history(stack_name) or []
    keep = engine.keeps_history_in_backend and not remove_stacks
    removed = False if keep else engine.remove_stack(stack_name)
    if keep:
        note = "provisioner gc: history exported; stack kept on Pulumi Cloud (its audit trail)"
        result.stacks_kept += 1
    elif removed:
        note = "provisioner gc: history exported; stack removed from the backend"
        result.stacks_removed += 1
    else:
        note = "provisioner gc: no stack left in the backend"
    archive.save_history(
        service.ledger,
        instance.id,
        [
            {
                "version": e.version,
                "kind": e.kind,
                "result": e.result,
                "start_time": e.start_time,
                "end_time": e.end_time,
                "message": e.message,
                "resource_changes": dict(e.resource_changes),
            }
            for e in entries
        ],
        note=note,
        at=now,
    )
    result.collected += 1
    result.history_entries += len(entries)
