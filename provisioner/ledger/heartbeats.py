"""Reapers' latest sweeps (`reaper_heartbeats`): written by each sweep, read by `up` and
`doctor` to say whether anything is watching the ledger's expiries."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import ReaperHeartbeat

FORGET_AFTER = timedelta(days=1)  # a reaper silent this long is gone: its row is dropped


def record_sweep(
    ledger: Ledger,
    *,
    owner: str,
    host: str,
    pid: int,
    interval_seconds: float | None,
    at: datetime,
) -> None:
    """One transaction: this reaper's row says `at`; rows silent for a day are dropped."""
    table = ReaperHeartbeat.__table__  # type: ignore[attr-defined]
    values = {"host": host, "pid": pid, "interval_seconds": interval_seconds, "last_sweep_at": at}
    with Session(ledger.engine) as session:
        updated = session.execute(sa.update(table).where(table.c.owner == owner).values(**values))
        if not updated.rowcount:  # type: ignore[attr-defined]
            session.execute(sa.insert(table).values(owner=owner, **values))
            session.execute(sa.delete(table).where(table.c.last_sweep_at < at - FORGET_AFTER))
        session.commit()


def latest_sweep(ledger: Ledger) -> ReaperHeartbeat | None:
    query = select(ReaperHeartbeat).order_by(col(ReaperHeartbeat.last_sweep_at).desc()).limit(1)
    with Session(ledger.engine, expire_on_commit=False) as session:
        return session.exec(query).first()
