"""Pools and their instances in the ledger (#22): pool rows, the per-pool lock, and pool-state
moves of instances, each closing the instance's open usage segment and opening the next in the
same transaction (segments.py)."""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from provisioner.ledger.ledger import Ledger, instance_from_row
from provisioner.ledger.models import Instance
from provisioner.ledger.pool_models import Pool
from provisioner.ledger.segments import switch_segment
from provisioner.rules.errors import (
    ConflictError,
    NotFoundError,
    ValidationError,
    shown,
    shown_id,
)

POOL_LOCK = 730122  # the key space of pg_advisory_lock(int, int) for pools (the other: the pool)
_LOCAL_LOCKS: dict[str, threading.Lock] = {}


def create_pool(ledger: Ledger, pool: Pool) -> Pool:
    with Session(ledger.engine, expire_on_commit=False) as session:
        if session.exec(select(Pool).where(Pool.name == pool.name)).first() is not None:
            raise ValidationError("name", f"A pool named {shown(pool.name)} exists already")
        session.add(pool)
        try:
            session.commit()
        except sa.exc.IntegrityError:
            raise ValidationError(
                "name", f"A pool named {shown(pool.name)} exists already"
            ) from None
        return pool


def find_pool(ledger: Ledger, name: str) -> Pool | None:
    with Session(ledger.engine, expire_on_commit=False) as session:
        return session.exec(select(Pool).where(Pool.name == name)).first()


def require_pool(ledger: Ledger, name: str, *, field: str = "pool") -> Pool:
    """The pool named `name`; unknown is bad input naming the field (exit 2, HTTP 400)."""
    pool = find_pool(ledger, name)
    if pool is None or pool.status == "DELETED":
        raise ValidationError(field, f"No pool named {shown(name)} (see `provisioner pool list`)")
    return pool


def pool_by_id(ledger: Ledger, pool_id: str) -> Pool:
    with Session(ledger.engine, expire_on_commit=False) as session:
        pool = session.get(Pool, pool_id)
    if pool is None:
        raise NotFoundError(f"Pool {shown_id(pool_id)} not found")
    return pool


def list_pools(ledger: Ledger, *, include_deleted: bool = False) -> list[Pool]:
    query = select(Pool).order_by(col(Pool.name))
    if not include_deleted:
        query = query.where(Pool.status != "DELETED")
    with Session(ledger.engine, expire_on_commit=False) as session:
        return list(session.exec(query).all())


def update_pool(ledger: Ledger, pool_id: str, *, at: datetime, **fields: Any) -> Pool:
    with Session(ledger.engine, expire_on_commit=False) as session:
        session.execute(
            sa.update(Pool).where(col(Pool.id) == pool_id).values(updated_at=at, **fields)
        )
        session.commit()
    return pool_by_id(ledger, pool_id)


def members(ledger: Ledger, pool_id: str, *, ended: bool = False) -> list[Instance]:
    """The pool's instances: those not ended (or, `ended`, all of them), oldest first."""
    query = select(Instance).where(Instance.pool_id == pool_id)
    if not ended:
        query = query.where(col(Instance.terminated_at).is_(None))
    query = query.order_by(col(Instance.created_at), col(Instance.id))
    with Session(ledger.engine, expire_on_commit=False) as session:
        return list(session.exec(query).all())


@contextlib.contextmanager
def pool_lock(ledger: Ledger, pool_id: str) -> Iterator[bool]:
    """One sweep of a pool at a time across every process sharing the ledger; yields whether
    this process holds it (False: another replica is on the pool now; skip it this sweep).

    PostgreSQL: a session advisory lock (pg_try_advisory_lock) on a connection held for the
    block. SQLite: a lock file beside the database (not BEGIN IMMEDIATE: the block launches
    instances through the ordinary provisioning path, which writes on its own connections and
    would wait on our write lock)."""
    if ledger.engine.dialect.name == "postgresql":
        key = zlib.crc32(pool_id.encode()) & 0x7FFFFFFF
        args = {"a": POOL_LOCK, "b": key}
        with ledger.engine.connect() as conn:
            held = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:a, :b)"), args).scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:a, :b)"), args)
                    conn.commit()
        return
    database = ledger.engine.url.database
    if database and database != ":memory:":
        from filelock import FileLock, Timeout

        lock = FileLock(str(Path(database).with_suffix(f".pool-{pool_id}.lock")), mode=0o600)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()
        return
    local = _LOCAL_LOCKS.setdefault(pool_id, threading.Lock())
    if not local.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        local.release()


def move_member(
    ledger: Ledger,
    instance_id: str,
    *,
    expected: Sequence[str | None],
    target: str,
    at: datetime,
    segment: str | None,
    job_id: str | None = None,
    conn: sa.Connection | None = None,
    **fields: Any,
) -> Instance:
    """Move a pool instance's pool state if it is still in `expected`; close its open segment
    and open `segment` (None: open none, the instance has ended). One transaction."""
    known = [e for e in expected if e is not None]
    condition: sa.ColumnElement[bool] = col(Instance.pool_state).in_(known)
    if None in expected:
        condition = sa.or_(condition, col(Instance.pool_state).is_(None))
    update = (
        sa.update(Instance)
        .where(col(Instance.id) == instance_id, condition)
        .values(pool_state=target, updated_at=at, **fields)
        .returning(*Instance.__table__.columns)  # type: ignore[attr-defined]
    )

    def run(c: sa.Connection) -> Instance:
        row = c.execute(update).first()
        if row is None:
            raise ConflictError(f"Instance {instance_id} left pool state {'/'.join(known)}")
        instance = instance_from_row(row)
        switch_segment(c, instance_id, str(instance.pool_id), kind=segment, at=at, job_id=job_id)
        return instance

    if conn is not None:
        return run(conn)
    with ledger.engine.begin() as own:
        return run(own)
