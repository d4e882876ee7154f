"""The tables of pools and jobs (#22): pools, jobs, job events, usage segments."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from provisioner.ledger.models import MONEY, UTCDateTime, _utc_column


class Pool(SQLModel, table=True):
    """A named request plus its scaling settings."""

    __tablename__ = "pools"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    user_id: str = Field(index=True, max_length=64)  # the owner: pays the overhead
    request: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    min: int
    max: int
    idle_minutes: int
    max_age_minutes: int | None = Field(default=None)
    reuse: str = Field(max_length=8)  # user | pool
    status: str = Field(max_length=16)  # ACTIVE | DRAINING | DELETED
    engine: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class Job(SQLModel, table=True):
    __tablename__ = "jobs"

    id: str = Field(primary_key=True, max_length=32)
    pool_id: str = Field(foreign_key="pools.id", index=True, max_length=32)
    user_id: str = Field(index=True, max_length=64)
    task_id: str | None = Field(default=None, max_length=64)
    command: str = Field(sa_type=sa.Text)
    workdir_file: str | None = Field(default=None, sa_type=sa.Text)  # tar.gz under the data dir
    workdir_bytes: int | None = Field(default=None)
    priority: int = Field(default=0)
    max_runtime_minutes: int | None = Field(default=None)
    retries: int = Field(default=0)
    attempt: int = Field(default=0)  # starts so far
    status: str = Field(index=True, max_length=16)
    instance_id: str | None = Field(default=None, index=True, max_length=32)
    exit_code: int | None = Field(default=None)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    cancel_requested: bool = Field(default=False)
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = _utc_column()
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    started_at: datetime | None = _utc_column()
    ended_at: datetime | None = _utc_column()
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    cost: Decimal | None = Field(default=None, sa_type=MONEY)  # frozen once its VM's cost is


class JobEvent(SQLModel, table=True):
    __tablename__ = "job_events"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=32)
    type: str = Field(max_length=64)
    status: str = Field(max_length=16)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    detail: str | None = Field(default=None, sa_type=sa.Text)


class UsageSegment(SQLModel, table=True):
    """A stretch of a pool instance's life: warm-up, job, idle, scrub (or drain)."""

    __tablename__ = "usage_segments"

    id: int | None = Field(default=None, primary_key=True)
    instance_id: str = Field(foreign_key="instances.id", index=True, max_length=32)
    pool_id: str = Field(index=True, max_length=32)
    job_id: str | None = Field(default=None, index=True, max_length=32)
    kind: str = Field(max_length=16)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ended_at: datetime | None = _utc_column()
