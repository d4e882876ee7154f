"""Ledger side of `provisioner gc` (#13): ended instances to collect, their stack history kept in
the ledger, and their event rows moved to a JSON-lines archive.

Instance rows are never archived: every statistic (totals, averages, breakdowns, cost reports) is
computed from them, so keeping them is what leaves the statistics of the archived period
unchanged. What piles up per instance is its events and its stack; gc moves the first to a file
and (the ops layer) removes the second from a self-managed backend.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import Instance, InstanceEvent, StackHistoryRow
from provisioner.rules.lifecycle import Status

GC_KIND = "gc"  # the stack_history row that records the collection itself


def gc_candidates(ledger: Ledger, cutoff: datetime, *, limit: int = 1000) -> list[Instance]:
    """Ended instances (TERMINATED, or FAILED and cleaned up) that ended before `cutoff` and
    were not collected yet, oldest first."""
    collected = select(StackHistoryRow.instance_id).where(StackHistoryRow.kind == GC_KIND)
    query = (
        select(Instance)
        .where(col(Instance.status).in_([Status.TERMINATED.value, Status.FAILED.value]))
        .where(col(Instance.terminated_at).is_not(None))
        .where(col(Instance.terminated_at) < cutoff)
        .where(col(Instance.id).not_in(collected))
        .order_by(col(Instance.terminated_at), col(Instance.id))
        .limit(limit)
    )
    with Session(ledger.engine, expire_on_commit=False) as session:
        return list(session.exec(query).all())


def save_history(
    ledger: Ledger, instance_id: str, entries: Sequence[dict[str, Any]], *, note: str, at: datetime
) -> None:
    """Store a stack's exported updates and the gc row (`note`) in one transaction."""
    last = max((int(e["version"]) for e in entries), default=0)
    rows = [StackHistoryRow(instance_id=instance_id, **entry) for entry in entries]
    rows.append(
        StackHistoryRow(
            instance_id=instance_id,
            version=last + 1,
            kind=GC_KIND,
            result="succeeded",
            start_time=at,
            end_time=at,
            message=note,
        )
    )
    with Session(ledger.engine) as session:
        session.add_all(rows)
        session.commit()


def stored_history(ledger: Ledger, instance_id: str) -> list[StackHistoryRow]:
    query = (
        select(StackHistoryRow)
        .where(StackHistoryRow.instance_id == instance_id)
        .order_by(col(StackHistoryRow.version), col(StackHistoryRow.id))
    )
    with Session(ledger.engine, expire_on_commit=False) as session:
        return list(session.exec(query).all())


def archive_events(ledger: Ledger, instance_ids: Sequence[str], path: Path) -> int:
    """Append the instances' events to `path` (JSON lines, one event each), then delete them
    from the ledger. The file is flushed to disk before anything is deleted."""
    if not instance_ids:
        return 0
    with Session(ledger.engine) as session:
        events = list(
            session.exec(
                select(InstanceEvent)
                .where(col(InstanceEvent.instance_id).in_(list(instance_ids)))
                .order_by(col(InstanceEvent.instance_id), col(InstanceEvent.id))
            ).all()
        )
        if not events:
            return 0
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            for event in events:
                record = {
                    "instanceId": event.instance_id,
                    "type": event.type,
                    "status": event.status,
                    "at": event.at.isoformat(),
                    "detail": event.detail,
                }
                handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        session.execute(
            sa.delete(InstanceEvent).where(col(InstanceEvent.id).in_([e.id for e in events]))
        )
        session.commit()
    return len(events)
