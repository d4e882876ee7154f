"""Reads for a pool's demand history and its stored schedule (#23)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from provisioner.ledger.forecast_models import PoolSchedule
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import Instance
from provisioner.ledger.pool_models import Job
from provisioner.rules.demand import JobTimes


def job_times(ledger: Ledger, pool_id: str, since: datetime) -> list[JobTimes]:
    """The pool's jobs still in the system at or after `since` (submitted before and ended
    after count too: they are demand in the window), oldest first."""
    query = (
        sa.select(col(Job.created_at), col(Job.started_at), col(Job.ended_at))
        .where(col(Job.pool_id) == pool_id)
        .where(
            sa.or_(
                col(Job.created_at) >= since,
                col(Job.ended_at).is_(None),
                col(Job.ended_at) > since,
            )
        )
        .order_by(col(Job.created_at))
    )
    with Session(ledger.engine) as session:
        rows = session.execute(query).all()
    return [JobTimes(a, b, c) for a, b, c in rows]


def cold_starts(ledger: Ledger, pool_id: str, since: datetime) -> list[tuple[datetime, float]]:
    """(launched at, seconds to READY) of the pool's instances launched since `since`."""
    query = select(Instance).where(
        Instance.pool_id == pool_id,
        col(Instance.created_at) >= since,
        col(Instance.ready_at).is_not(None),
    )
    with Session(ledger.engine) as session:
        rows = session.exec(query).all()
    return [
        (i.created_at, (i.ready_at - i.created_at).total_seconds())
        for i in rows
        if i.ready_at is not None
    ]


def get_schedule(ledger: Ledger, pool_id: str) -> PoolSchedule | None:
    with Session(ledger.engine, expire_on_commit=False) as session:
        return session.get(PoolSchedule, pool_id)


def save_schedule(ledger: Ledger, row: PoolSchedule) -> PoolSchedule:
    with Session(ledger.engine, expire_on_commit=False) as session:
        merged = session.merge(row)
        session.commit()
        return merged


def delete_schedule(ledger: Ledger, pool_id: str) -> bool:
    with Session(ledger.engine) as session:
        found = session.execute(sa.delete(PoolSchedule).where(col(PoolSchedule.pool_id) == pool_id))
        session.commit()
        return bool(found.rowcount)  # type: ignore[attr-defined]
