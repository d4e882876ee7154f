"""SQLModel tables (the ledger) and their public JSON shapes (camelCase, as the seed's API)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from pydantic import Field as ApiField
from pydantic.alias_generators import to_camel
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores naive UTC (SQLite keeps no zone), always hands back aware UTC datetimes."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger; use aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _utc_column(*, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)


MONEY = sa.Numeric(14, 6)


class Instance(SQLModel, table=True):
    __tablename__ = "instances"

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(index=True, max_length=64)
    task_id: str | None = Field(default=None, index=True, max_length=64)
    provider: str = Field(index=True, max_length=16)
    instance_type: str = Field(max_length=64)
    region: str = Field(max_length=64)
    status: str = Field(index=True, max_length=16)
    public_ip: str | None = Field(default=None, max_length=64)
    private_ip: str | None = Field(default=None, max_length=64)
    cloud_instance_id: str | None = Field(default=None, max_length=256)
    disk_size_gb: int
    auto_terminate_minutes: int
    cost_per_hour: Decimal = Field(sa_type=MONEY)
    # Frozen when the instance ends (TERMINATED/FAILED); live instances accrue from the clock.
    total_cost: Decimal | None = Field(default=None, sa_type=MONEY)
    purpose: str | None = Field(default=None, max_length=256)
    tags: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON)
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column("metadata", sa.JSON))
    allowed_ssh_cidrs: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    ssh_public_key: str | None = Field(default=None, sa_type=sa.Text)
    ssh_key_fingerprint: str | None = Field(default=None, max_length=128)
    engine: str = Field(max_length=16)
    stack_name: str = Field(max_length=64)
    error: str | None = Field(default=None, sa_type=sa.Text)
    error_code: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    hard_deadline: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ready_at: datetime | None = _utc_column()
    terminated_at: datetime | None = _utc_column()
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # When the cloud accepted the current VM: compute and disk bill from then (#24). None while
    # no VM exists (a PROVISIONING row costs nothing) and on rows made before it was recorded.
    billed_from: datetime | None = _utc_column()

    # Lease on the long operation running now (up or destroy): who holds it and until when it is
    # valid without a heartbeat. A stale lease means the holder died (issue #4).
    operation: str | None = Field(default=None, max_length=16)
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = _utc_column(index=True)
    # Failed destroys are retried with backoff until one succeeds.
    destroy_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_retry_at: datetime | None = _utc_column()

    # Storage price captured at creation; the cost split frozen when the instance ends (#5).
    storage_price_gb_month: Decimal | None = Field(default=None, sa_type=MONEY)
    compute_cost: Decimal | None = Field(default=None, sa_type=MONEY)
    storage_cost: Decimal | None = Field(default=None, sa_type=MONEY)
    # The VM's public IPv4 address (#24): its $/hour for the current candidate (None: no public
    # address, or made before it was costed) and its cost, frozen when the instance ends.
    public_ip_price_per_hour: Decimal | None = Field(default=None, sa_type=MONEY)
    public_ip_cost: Decimal | None = Field(default=None, sa_type=MONEY)

    # First-boot setup script and idle auto-stop window, kept so a resumed up renders the same
    # user data (#11). The private key is never here: it lives in <home>/keys/<id>.
    setup_script: str | None = Field(default=None, sa_type=sa.Text)
    idle_minutes: int | None = Field(default=None)

    # A pool instance (#22): its pool, its pool state (rules/scaling.py PoolState), the one user
    # it serves under reuse=user, and when it last became IDLE. None for ordinary instances.
    pool_id: str | None = Field(default=None, index=True, max_length=32)
    pool_state: str | None = Field(default=None, max_length=16)
    pool_user: str | None = Field(default=None, max_length=64)
    idle_since: datetime | None = _utc_column()


class InstanceEvent(SQLModel, table=True):
    __tablename__ = "instance_events"

    id: int | None = Field(default=None, primary_key=True)
    instance_id: str = Field(foreign_key="instances.id", index=True, max_length=32)
    type: str = Field(max_length=64)
    status: str = Field(max_length=16)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    detail: str | None = Field(default=None, sa_type=sa.Text)


class InstanceAttempt(SQLModel, table=True):
    """One try of one candidate for an instance, with its own stack (#12)."""

    __tablename__ = "instance_attempts"

    id: int | None = Field(default=None, primary_key=True)
    instance_id: str = Field(foreign_key="instances.id", index=True, max_length=32)
    number: int
    provider: str = Field(max_length=16)
    region: str = Field(max_length=64)
    zone: str | None = Field(default=None, max_length=64)
    instance_type: str = Field(max_length=64)
    spot: bool = Field(default=False)
    price_per_hour: Decimal = Field(sa_type=MONEY)
    stack_name: str = Field(max_length=64)
    outcome: str = Field(max_length=16)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ended_at: datetime | None = _utc_column()
    failure_class: str | None = Field(default=None, max_length=32)
    provider_code: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, sa_type=sa.Text)


class StackHistoryRow(SQLModel, table=True):
    """A stack's update history, exported into the ledger by `provisioner gc` (#13) so
    `history ID` still works once the stack is removed from its backend. kind "gc" records
    the collection itself (message: whether the stack was removed or kept)."""

    __tablename__ = "stack_history"

    id: int | None = Field(default=None, primary_key=True)
    instance_id: str = Field(foreign_key="instances.id", index=True, max_length=32)
    version: int
    kind: str = Field(max_length=32)
    result: str = Field(max_length=32)
    start_time: datetime = Field(sa_type=UTCDateTime, nullable=False)
    end_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    message: str = Field(default="", sa_type=sa.Text)
    resource_changes: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)


class ApiToken(SQLModel, table=True):
    """A bearer token for the REST API, stored only as its SHA-256 hash (#3)."""

    __tablename__ = "api_tokens"

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(index=True, max_length=64)
    admin: bool = Field(default=False)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    name: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = _utc_column()
    last_used_at: datetime | None = _utc_column()


class IdempotencyKey(SQLModel, table=True):
    """A POST's Idempotency-Key: a repeat within 24 h returns the same instance (#3)."""

    __tablename__ = "idempotency_keys"

    user_id: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=255)
    instance_id: str = Field(foreign_key="instances.id", max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class Budget(SQLModel, table=True):
    """A user's spend limits and concurrent-instance cap (#5)."""

    __tablename__ = "budgets"

    user_id: str = Field(primary_key=True, max_length=64)
    daily_usd: Decimal | None = Field(default=None, sa_type=MONEY)
    monthly_usd: Decimal | None = Field(default=None, sa_type=MONEY)
    max_instances: int | None = Field(default=None)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class ReaperHeartbeat(SQLModel, table=True):
    """A reaper's latest sweep (`reap`, `serve`): `up` warns when no reaper has swept lately,
    since nothing else destroys an instance at its expiry."""

    __tablename__ = "reaper_heartbeats"

    owner: str = Field(primary_key=True, max_length=128)
    host: str = Field(max_length=255)
    pid: int
    interval_seconds: float | None = Field(default=None)  # None: one sweep (`reap --once`)
    last_sweep_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class _CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class CostBreakdownOut(_CamelModel):
    """Where an instance's (or a fleet's) cost comes from; totalCost is their sum (#5)."""

    compute: float
    storage: float


class InstanceCostBreakdownOut(CostBreakdownOut):
    """An instance's cost split: compute, disk and its public IPv4 address (#24). Fleet sums
    (statistics, reports) count the address with compute."""

    public_ipv4: float = 0.0


class CandidateOut(_CamelModel):
    """Where an attempt tried to land (capacity/candidates.py: Candidate.to_json)."""

    provider: str
    region: str
    zone: str | None
    instance_type: str
    spot: bool
    cost_per_hour: float


class AttemptOut(_CamelModel):
    """One try of one candidate (capacity/candidates.py: Attempt.to_json)."""

    number: int
    candidate: CandidateOut
    stack_name: str
    outcome: str  # running | landed | failed
    started_at: datetime
    ended_at: datetime | None
    failure_class: str | None
    provider_code: str | None
    message: str | None


class InstanceOut(_CamelModel):
    """The API's and `--json`'s instance shape (DESIGN.md: Interfaces)."""

    id: str
    user_id: str
    task_id: str | None
    provider: str
    instance_type: str
    region: str
    status: str
    public_ip: str | None
    private_ip: str | None
    cloud_instance_id: str | None
    disk_size_gb: int = ApiField(alias="diskSizeGB")
    auto_terminate_minutes: int
    expires_at: datetime
    hard_deadline: datetime
    cost_per_hour: float
    total_cost: float
    cost_breakdown: InstanceCostBreakdownOut
    purpose: str | None
    tags: dict[str, str]
    metadata: dict[str, Any]
    engine: str
    created_at: datetime
    ready_at: datetime | None
    terminated_at: datetime | None
    updated_at: datetime
    error: str | None
    error_code: str | None
    # Reaching the VM: who to log in as, the command that works from here (labelled when
    # simulated), who may connect, and the key's fingerprint. Never a private key.
    ssh_user: str | None = None
    ssh_command: str | None = None
    allowed_ssh_cidrs: list[str] = ApiField(default_factory=list)
    ssh_key_fingerprint: str | None = None
    # Where it landed and how: the zone, spot or on-demand, and every attempt to get there.
    zone: str | None = None
    spot: bool = False
    attempts: list[AttemptOut] = ApiField(default_factory=list)
    # The public IPv4 address's $/hour on top of costPerHour (0: none) (#24).
    public_ipv4_per_hour: float = 0.0


class EventOut(_CamelModel):
    type: str
    status: str
    at: datetime
    detail: str | None


class StatisticsOut(_CamelModel):
    total_provisioned: int
    currently_running: int
    total_cost: float
    average_duration: float
    average_cost: float
    provider_breakdown: dict[str, int]
    instance_type_breakdown: dict[str, int]
    cost_breakdown: CostBreakdownOut | None = None
