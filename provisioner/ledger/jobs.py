"""Jobs in the ledger (#22): each state change is a conditional UPDATE plus its event row in one
transaction; assignment claims one QUEUED job and one IDLE instance together."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from provisioner.ledger.ledger import Ledger, instance_from_row
from provisioner.ledger.models import Instance
from provisioner.ledger.pool_models import Job, JobEvent, Pool
from provisioner.ledger.segments import switch_segment
from provisioner.rules.errors import ConflictError, NotFoundError, shown_id
from provisioner.rules.jobs import JOB_EVENTS, JobStatus
from provisioner.rules.lifecycle import Status
from provisioner.rules.scaling import PoolState

_JOB_COLUMNS = {prop.key: prop.columns[0] for prop in sa.inspect(Job).column_attrs}
CLAIM_BATCH = 200  # queued jobs looked at per claim, best first


def job_from_row(row: Any) -> Job:
    mapping = row._mapping
    return Job(**{attr: mapping[column.name] for attr, column in _JOB_COLUMNS.items()})


def add_job(ledger: Ledger, job: Job, *, detail: str | None = None) -> Job:
    with Session(ledger.engine, expire_on_commit=False) as session:
        session.add(job)
        session.flush()
        session.add(
            JobEvent(
                job_id=job.id,
                type=JOB_EVENTS[JobStatus.QUEUED],
                status=job.status,
                at=job.created_at,
                detail=detail,
            )
        )
        session.commit()
        return job


def get_job(ledger: Ledger, job_id: str) -> Job:
    with Session(ledger.engine, expire_on_commit=False) as session:
        job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"Job {shown_id(job_id)} not found")
    return job


def list_jobs(
    ledger: Ledger,
    *,
    pool_id: str | None = None,
    user_id: str | None = None,
    statuses: Sequence[JobStatus] | None = None,
    limit: int | None = None,
) -> list[Job]:
    """Oldest first."""
    query = select(Job)
    if pool_id is not None:
        query = query.where(Job.pool_id == pool_id)
    if user_id is not None:
        query = query.where(Job.user_id == user_id)
    if statuses is not None:
        query = query.where(col(Job.status).in_([s.value for s in statuses]))
    query = query.order_by(col(Job.created_at), col(Job.id))
    if limit is not None:
        query = query.limit(limit)
    with Session(ledger.engine, expire_on_commit=False) as session:
        return list(session.exec(query).all())


def job_events(ledger: Ledger, job_id: str) -> list[JobEvent]:
    query = select(JobEvent).where(JobEvent.job_id == job_id)
    with Session(ledger.engine, expire_on_commit=False) as session:
        return list(session.exec(query.order_by(col(JobEvent.at), col(JobEvent.id))).all())


def move_job(
    ledger: Ledger,
    job_id: str,
    *,
    expected: JobStatus | Sequence[JobStatus],
    target: JobStatus,
    at: datetime,
    detail: str | None = None,
    where: Sequence[sa.ColumnElement[bool]] = (),
    event_type: str | None = None,
    conn: sa.Connection | None = None,
    **fields: Any,
) -> Job:
    """Move the job to `target` if it is still in `expected` (and matches `where`); its event
    in the same transaction. ConflictError when someone moved it first."""
    wanted = [expected] if isinstance(expected, JobStatus) else list(expected)
    update = (
        sa.update(Job)
        .where(col(Job.id) == job_id, col(Job.status).in_([s.value for s in wanted]), *where)
        .values(status=target.value, updated_at=at, **fields)
        .returning(*Job.__table__.columns)  # type: ignore[attr-defined]
    )
    event = sa.insert(JobEvent).values(
        job_id=job_id,
        type=event_type or JOB_EVENTS[target],
        status=target.value,
        at=at,
        detail=detail,
    )

    def run(c: sa.Connection) -> Job:
        row = c.execute(update).first()
        if row is None:
            raise ConflictError(f"Job {job_id} is no longer {'/'.join(s.value for s in wanted)}")
        c.execute(event)
        return job_from_row(row)

    if conn is not None:
        return run(conn)
    with ledger.engine.begin() as own:
        return run(own)


def note_job(
    ledger: Ledger, job_id: str, *, event_type: str, status: str, at: datetime, detail: str
) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.insert(JobEvent).values(
                job_id=job_id, type=event_type, status=status, at=at, detail=detail
            )
        )


def update_job(ledger: Ledger, job_id: str, *, at: datetime, **fields: Any) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(sa.update(Job).where(col(Job.id) == job_id).values(updated_at=at, **fields))


def _begin_claim(conn: sa.Connection) -> None:
    if conn.dialect.name == "sqlite":
        dbapi: Any = conn.connection.dbapi_connection
        if not dbapi.in_transaction:
            dbapi.execute("BEGIN IMMEDIATE")  # the write lock before anything is read


def running_by_user(conn: sa.Connection, pool_id: str) -> Counter[str]:
    rows = conn.execute(
        sa.select(col(Job.user_id), sa.func.count())
        .where(
            col(Job.pool_id) == pool_id,
            col(Job.status).in_([JobStatus.STARTING.value, JobStatus.RUNNING.value]),
        )
        .group_by(col(Job.user_id))
    ).all()
    return Counter({user: int(n) for user, n in rows})


def queue_order(jobs: Sequence[Job], running: Counter[str]) -> list[Job]:
    """Priority (highest first), then the user with the fewest running jobs, then oldest."""
    return sorted(jobs, key=lambda j: (-j.priority, running[j.user_id], j.created_at, j.id))


def fits(pool: Pool, instance: Instance, job: Job) -> bool:
    """reuse=user: a VM serves only the first user it served."""
    return pool.reuse == "pool" or instance.pool_user in (None, job.user_id)


def claim_next(
    ledger: Ledger, pool: Pool, *, at: datetime, owner: str, lease_until: datetime
) -> tuple[Job, Instance] | None:
    """Claim the best QUEUED job that an IDLE instance of the pool can take, and that instance,
    in one transaction: the job STARTING (its event `job:starting`), the instance BUSY, its idle
    segment closed and its job segment opened. None when no pair fits. A job no instance fits
    (reuse=user) is passed over, never blocking those behind it. PostgreSQL: rows another
    replica is claiming are skipped (FOR UPDATE SKIP LOCKED); SQLite: BEGIN IMMEDIATE."""
    postgres = ledger.engine.dialect.name == "postgresql"
    idle_query = (
        sa.select(Instance)
        .where(
            col(Instance.pool_id) == pool.id,
            col(Instance.pool_state) == PoolState.IDLE.value,
            col(Instance.status) == Status.READY.value,
        )
        .order_by(col(Instance.idle_since), col(Instance.id))
    )
    job_query = (
        sa.select(Job)
        .where(col(Job.pool_id) == pool.id, col(Job.status) == JobStatus.QUEUED.value)
        .order_by(col(Job.priority).desc(), col(Job.created_at), col(Job.id))
        .limit(CLAIM_BATCH)
    )
    if postgres:
        idle_query = idle_query.with_for_update(skip_locked=True)
        job_query = job_query.with_for_update(skip_locked=True)
    with ledger.engine.connect() as conn:
        _begin_claim(conn)
        idle = [instance_from_row(r) for r in conn.execute(idle_query)]
        if not idle:
            conn.rollback()
            return None
        queued = [job_from_row(r) for r in conn.execute(job_query)]
        running = running_by_user(conn, pool.id)
        for job in queue_order(queued, running):
            # A VM this user already warmed first, then a fresh one, then any (reuse=pool).
            ranked = sorted(
                idle, key=lambda i: (i.pool_user != job.user_id, i.pool_user is not None)
            )
            instance = next((i for i in ranked if fits(pool, i, job)), None)
            if instance is None:
                continue
            claimed = move_job(
                ledger,
                job.id,
                expected=JobStatus.QUEUED,
                target=JobStatus.STARTING,
                at=at,
                detail=f"on {instance.id}",
                conn=conn,
                instance_id=instance.id,
                attempt=job.attempt + 1,
                lease_owner=owner,
                lease_expires_at=lease_until,
                started_at=at,
            )
            busy_fields: dict[str, Any] = {"idle_since": None}
            if pool.reuse == "user":
                busy_fields["pool_user"] = job.user_id
            row = conn.execute(
                sa.update(Instance)
                .where(
                    col(Instance.id) == instance.id,
                    col(Instance.pool_state) == PoolState.IDLE.value,
                )
                .values(pool_state=PoolState.BUSY.value, updated_at=at, **busy_fields)
                .returning(*Instance.__table__.columns)  # type: ignore[attr-defined]
            ).first()
            if row is None:
                conn.rollback()
                return None
            switch_segment(conn, instance.id, pool.id, kind="job", at=at, job_id=job.id)
            conn.commit()
            return claimed, instance_from_row(row)
        conn.rollback()
        return None
