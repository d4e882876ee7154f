"""Request and response bodies of the REST API (camelCase, the seed's `success` envelope)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from provisioner.ledger.models import EventOut, InstanceOut, StatisticsOut


def _integral(value: Any) -> Any:
    """4.0 is the integer 4 in JSON (and JSON Schema); 4.5 and "4" stay refused (strict)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_integral)]


class _In(BaseModel):
    # Strict: "100" is not a number and unknown fields are refused (a misspelt
    # "autoTerminateMinute" must not silently become the 60-minute default).
    model_config = ConfigDict(alias_generator=to_camel, strict=True, extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ConfigIn(_In):
    provider: str = Field(description="AWS, AZURE or GCP (case-insensitive), or ANY with a gpu")
    instance_type: str | None = Field(
        default=None, description="A type from GET /api/instance-types (or give gpu)"
    )
    region: str | None = Field(
        default=None,
        min_length=1,
        description="Default us-east-1 / eastus / us-central1 (leave it out, not empty)",
    )
    # Capacity (#12): alternatives to fail over across, GPU spec, spot, recovery.
    instance_types: list[str] | None = Field(
        default=None, description="Alternative types, tried cheapest first"
    )
    regions: list[str] | None = Field(
        default=None, description='Regions to fail over across, or ["any"]'
    )
    zone: str | None = Field(default=None, min_length=1, description="Only this zone")
    gpu: str | None = Field(default=None, min_length=1, description="GPU spec: T4:1, A100:8, H100")
    min_gpu_memory: int | None = Field(default=None, description="GB per GPU, with gpu")
    min_vcpus: int | None = Field(default=None, description="With gpu")
    max_price: float | None = Field(default=None, description="Highest $/hour (spot: max bid)")
    spot: bool = Field(default=False, description="Spot VMs: cheaper, may be reclaimed")
    max_attempts: int | None = Field(default=None, description="Candidates to try (default 6)")
    recover: bool = Field(
        default=False, description="Relaunch on the next candidate when the cloud takes it"
    )
    disk_size_gb: WholeNumber | None = Field(
        default=None, alias="diskSizeGB", description="30..4096 GB (default 100)"
    )
    auto_terminate_minutes: WholeNumber | None = Field(
        default=None, description="5..120 minutes by default (default 60)"
    )
    tags: dict[str, str] | None = Field(
        default=None,
        description="At most 40; key 1..128 without <>%&\\?/ or reserved prefixes; value ..256",
    )
    ssh_public_key: str | None = Field(
        default=None,
        description="One OpenSSH ssh-ed25519 or ssh-rsa (>= 2048 bits) public key line; without "
        "it the server makes a key pair whose private half stays on the server",
    )
    allowed_ssh_cidrs: list[str] | None = Field(
        default=None, description="CIDRs allowed to reach tcp/22 (default: no inbound at all)"
    )
    setup_script: str | None = Field(
        default=None, description="Run at first boot through cloud-init; text, at most 16 KiB"
    )
    idle_minutes: int | None = Field(
        default=None,
        description="Stop the VM after this many minutes with no GPU use, SSH session or command",
    )


class ProvisionIn(_In):
    user_id: str | None = Field(
        default=None, description="Default: the token's user; another user's id needs an admin"
    )
    task_id: str | None = Field(default=None, description="1..64 of A-Z a-z 0-9 . _ -")
    config: ConfigIn
    purpose: str | None = Field(default=None, description="At most 256 characters, one line")


class ExtendIn(_In):
    minutes: WholeNumber = Field(description="Push expiresAt back by this many minutes")


class StatusIn(_In):
    status: str = Field(description="RUNNING (a task started) or READY (it finished)")


class ErrorDetail(_Out):
    code: str
    message: str
    field: str | None = None


class ErrorOut(_Out):
    success: bool = False
    error: ErrorDetail
    instance: InstanceOut | None = None


class InstanceEnvelope(_Out):
    success: bool = True
    instance: InstanceOut


class InstanceList(_Out):
    success: bool = True
    instances: list[InstanceOut]
    count: int
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last one"
    )


class TerminateOut(_Out):
    success: bool = True
    message: str
    instance: InstanceOut


class StatisticsEnvelope(_Out):
    success: bool = True
    statistics: StatisticsOut


class EventList(_Out):
    success: bool = True
    events: list[EventOut]
    count: int


class InstanceTypeOut(BaseModel):
    provider: str
    instanceType: str  # noqa: N815 (the catalog's own camelCase JSON)
    gpu: str
    gpuCount: int  # noqa: N815
    gpuModel: str  # noqa: N815
    gpuMemoryGB: int  # noqa: N815
    vcpus: int
    ramGB: int  # noqa: N815
    costPerHour: float  # noqa: N815
    regions: list[str]
    retired: bool
    note: str | None
    # Where the catalog knows them (AWS, GCP): zones per region, in the order tried; spot prices.
    zones: dict[str, list[str]] | None = None
    spotPrices: dict[str, float] | None = None  # noqa: N815


class InstanceTypeList(_Out):
    success: bool = True
    prices_as_of: str
    instance_types: list[InstanceTypeOut]
    count: int


class HealthCheck(_Out):
    ok: bool
    detail: str


class HealthOut(_Out):
    success: bool
    status: str = Field(description="ok, or unavailable when a check failed")
    engine: str
    checks: dict[str, HealthCheck]
    workers: dict[str, Any]
