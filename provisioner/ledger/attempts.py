"""Reads and writes of instance attempts (#12): one row per candidate tried."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import InstanceAttempt


def start_attempt(ledger: Ledger, attempt: InstanceAttempt) -> InstanceAttempt:
    with Session(ledger.engine, expire_on_commit=False) as session:
        session.add(attempt)
        session.commit()
        return attempt


def end_attempt(ledger: Ledger, attempt_id: int, *, at: datetime, **fields: Any) -> None:
    with Session(ledger.engine) as session:
        session.execute(
            sa.update(InstanceAttempt)
            .where(col(InstanceAttempt.id) == attempt_id)
            .values(ended_at=at, **fields)
        )
        session.commit()


def attempts_of(ledger: Ledger, instance_id: str) -> list[InstanceAttempt]:
    query = (
        select(InstanceAttempt)
        .where(InstanceAttempt.instance_id == instance_id)
        .order_by(col(InstanceAttempt.number))
    )
    with Session(ledger.engine, expire_on_commit=False) as session:
        return list(session.exec(query).all())


def attempts_by_instance(
    ledger: Ledger, instance_ids: list[str]
) -> dict[str, list[InstanceAttempt]]:
    """Attempts of many instances in one query (for listings)."""
    if not instance_ids:
        return {}
    query = (
        select(InstanceAttempt)
        .where(col(InstanceAttempt.instance_id).in_(instance_ids))
        .order_by(col(InstanceAttempt.instance_id), col(InstanceAttempt.number))
    )
    found: dict[str, list[InstanceAttempt]] = {}
    with Session(ledger.engine, expire_on_commit=False) as session:
        for row in session.exec(query).all():
            found.setdefault(row.instance_id, []).append(row)
    return found
