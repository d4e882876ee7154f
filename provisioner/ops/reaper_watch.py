"""Whether a reaper watches the ledger's expiries: nothing else destroys an instance when its
`expiresAt` passes (the on-VM deadman acts only at the hard deadline). Read by `up`, `run` and
`doctor` from the reapers' heartbeats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col

from provisioner.ledger.heartbeats import latest_sweep
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import Instance
from provisioner.rules.lifecycle import EXPIRABLE

MIN_WINDOW_SECONDS = 300.0  # a cron'd `reap --once` every few minutes still counts


@dataclass(frozen=True)
class ReaperWatch:
    watching: bool
    detail: str


def reaper_watch(ledger: Ledger, *, now: datetime, default_interval: float) -> ReaperWatch:
    """Watching when some reaper swept within 3 of its intervals (at least 5 minutes)."""
    row = latest_sweep(ledger)
    if row is None:
        return ReaperWatch(False, "no reaper sweep is on record for this ledger")
    interval = row.interval_seconds or default_interval
    window = max(3 * interval, MIN_WINDOW_SECONDS)
    age = max((now - row.last_sweep_at).total_seconds(), 0.0)
    how = f"every {interval:g} s" if row.interval_seconds else "one sweep at a time"
    where = f"on {row.host} (pid {row.pid}, {how})"
    if age <= window:
        return ReaperWatch(True, f"last sweep {_ago(age)} ago {where}")
    return ReaperWatch(False, f"no reaper has swept this ledger for {_ago(age)} (last {where})")


def overdue(ledger: Ledger, *, now: datetime) -> int:
    """Live instances past their expiry: what a reaper would destroy now (its `_expire` step's
    rows, counted)."""
    query = (
        sa.select(sa.func.count())
        .select_from(Instance)
        .where(
            col(Instance.status).in_([s.value for s in EXPIRABLE]),
            col(Instance.expires_at) <= now,
        )
    )
    with ledger.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
