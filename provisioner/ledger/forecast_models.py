"""A pool's warm schedule (#23): `pool edit NAME --schedule auto` stores the fitted schedule
here; the sweep reads the current hour's floor from it. One row per pool; `off` deletes it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from provisioner.ledger.models import UTCDateTime, _utc_column


class PoolSchedule(SQLModel, table=True):
    __tablename__ = "pool_schedules"

    pool_id: str = Field(primary_key=True, foreign_key="pools.id", max_length=32)
    mode: str = Field(max_length=8)  # auto
    weeks: int
    # 168 warm minimums (rules/forecast.py); None while the history is too short to fit one.
    hours: list[int] | None = Field(default=None, sa_type=sa.JSON)
    lead_seconds: int = Field(default=0)
    note: str | None = Field(default=None, sa_type=sa.Text)  # why nothing is proposed
    fitted_at: datetime | None = _utc_column()
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
