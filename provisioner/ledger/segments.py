"""Usage segments of pool instances (#22): warm-up, idle, job, scrub, drain. At any moment a
live pool instance has exactly one open segment; they tile its life from createdAt to its end,
so their cost shares (rules/jobs.py split_cost) sum exactly to the instance's cost."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.pool_models import UsageSegment


def switch_segment(
    conn: sa.Connection,
    instance_id: str,
    pool_id: str,
    *,
    kind: str | None,
    at: datetime,
    job_id: str | None = None,
) -> None:
    """Close the instance's open segment at `at`; open a `kind` segment (None: none)."""
    conn.execute(
        sa.update(UsageSegment)
        .where(col(UsageSegment.instance_id) == instance_id, col(UsageSegment.ended_at).is_(None))
        .values(ended_at=at)
    )
    if kind is not None:
        conn.execute(
            sa.insert(UsageSegment).values(
                instance_id=instance_id, pool_id=pool_id, job_id=job_id, kind=kind, started_at=at
            )
        )


def segments_of(ledger: Ledger, instance_ids: Iterable[str]) -> list[UsageSegment]:
    ids = list(instance_ids)
    if not ids:
        return []
    query = (
        select(UsageSegment)
        .where(col(UsageSegment.instance_id).in_(ids))
        .order_by(col(UsageSegment.instance_id), col(UsageSegment.started_at), col(UsageSegment.id))
    )
    with Session(ledger.engine, expire_on_commit=False) as session:
        return list(session.exec(query).all())


def segments_of_job(ledger: Ledger, job_id: str) -> list[UsageSegment]:
    query = select(UsageSegment).where(UsageSegment.job_id == job_id)
    with Session(ledger.engine, expire_on_commit=False) as session:
        return list(session.exec(query.order_by(col(UsageSegment.started_at))).all())
