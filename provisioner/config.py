"""Settings, read from PROVISIONER_* environment variables (pydantic-settings).

Pass a `Settings` into `Provisioner(...)` and `create_app(...)`; nothing reads the environment
behind their backs except the cloud SDKs' own credential chains.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import stat
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EngineName = Literal["pulumi", "simulated"]
MAX_HARD_LIFETIME_MINUTES = 23 * 60
FailKind = Literal["capacity", "quota", "error"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROVISIONER_", extra="ignore")

    home: Path = Field(default=Path("~/.provisioner"), description="data dir")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite in the data dir"
    )
    engine: EngineName = "pulumi"

    # Lifetime bounds (minutes). The hard lifetime is when the on-VM deadman fires.
    min_ttl_minutes: int = Field(default=5, ge=1)
    max_ttl_minutes: int = Field(default=120, ge=1)
    default_ttl_minutes: int = Field(default=60, ge=1)
    # At most 23 h: Azure's deallocating auto-shutdown is a *daily* schedule at the deadline's
    # HH:MM; a lifetime near a day would let its first run come before the deadline.
    hard_lifetime_minutes: int = Field(default=240, ge=5, le=MAX_HARD_LIFETIME_MINUTES)
    default_disk_gb: int = Field(default=100, ge=30, le=4096)
    # A job's workdir (#22), packed as tar.gz: the largest accepted (bytes).
    max_workdir_bytes: int = Field(default=64 * 1024 * 1024, ge=1)

    # Pulumi engine.
    pulumi_backend_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PULUMI_BACKEND_URL", "PROVISIONER_PULUMI_BACKEND_URL"),
    )
    provisioning_timeout_minutes: float = Field(default=20, gt=0)
    # How stack secrets are encrypted on a self-managed backend: "passphrase" (the default; a
    # backend other processes share needs the same PULUMI_CONFIG_PASSPHRASE(_FILE) on all of
    # them) or a KMS URL (awskms://..., azurekeyvault://..., gcpkms://..., hashivault://...).
    pulumi_secrets_provider: str = Field(default="passphrase")
    # Either one id for every region, or a per-region map "us-east-1=ami-1,us-west-2=ami-2"
    # (AMI and subnet ids are regional); a region the map leaves out uses the default lookup /
    # the default VPC.
    aws_ami: str | None = Field(default=None, description="AMI id instead of the DLAMI lookup")
    aws_subnet_id: str | None = None
    azure_image: str | None = Field(
        default=None, description='image URN "publisher:offer:sku:version"'
    )
    # GCP (#14): the project VMs go to (default: the Application Default Credentials' project),
    # and an image instead of the Deep Learning VM family (self link, "project/family", ...).
    gcp_project: str | None = Field(default=None, description="GCP project id")
    gcp_image: str | None = Field(default=None, description="GCP image instead of the DLVM")

    # Simulation knobs.
    sim_delay: float = Field(default=0.0, ge=0)
    sim_fail_up: float = Field(default=0.0, ge=0, le=1)
    sim_fail_destroy: float = Field(default=0.0, ge=0, le=1)
    sim_fail_kind: FailKind = "error"
    sim_capacity: str = Field(
        default="", description="rules PROVIDER/REGION/ZONE/TYPE[/spot]=none|quota (#12)"
    )
    sim_preempt_after: float | None = Field(
        default=None, ge=0, description="seconds after READY a simulated spot VM vanishes"
    )
    # #26: a simulated VM's setup script and SSH sessions run as this server's user on this host,
    # so under `serve --simulate` only admin tokens may send them unless the operator allows it.
    sim_allow_user_code: bool = Field(
        default=False,
        description="let non-admin tokens send setupScript/sshPublicKey to the simulated engine",
    )

    # Capacity (#12): how many candidates one request may try before it ends FAILED.
    max_attempts: int = Field(default=6, ge=1, le=50)

    # Reaper and recovery (issue #4): sweep interval, operation leases, retries, orphan sweeps.
    reap_interval_seconds: float = Field(default=60, gt=0)
    reap_parallel: int = Field(default=8, ge=1, description="destroys a sweep runs at once")
    lease_seconds: float = Field(default=60, gt=0, description="a lease not renewed is stale")
    destroy_retry_base_seconds: float = Field(default=30, gt=0)
    destroy_retry_max_seconds: float = Field(default=1800, gt=0)
    transient_attempts: int = Field(default=3, ge=1, description="tries per call on throttling")
    transient_wait_seconds: float = Field(default=2, ge=0)
    orphan_grace_minutes: float = Field(default=30, ge=0)
    # gc (#13): the reaper collects instances ended longer ago than this, once a day.
    gc_older_than_days: float = Field(default=30, gt=0)
    gc_every_hours: float = Field(default=24, gt=0)

    # REST API (`provisioner serve`, #3): provisions/destroys run at once, and where events go.
    max_parallel: int = Field(default=8, ge=1, le=256)
    serve_reaper: bool = Field(default=True, description="serve runs the reaper's sweeps")
    pickup_interval_seconds: float = Field(
        default=2, gt=0, description="how often serve looks for queued or orphaned ups (#6)"
    )
    webhook_urls: str = Field(default="", description="comma-separated URLs to POST events to")
    webhook_secret: SecretStr | None = Field(default=None, description="HMAC key for webhooks")
    # What one client may cost the API (#10; docs/api-hardening.md).
    max_body_bytes: int = Field(
        default=65536, ge=1024, le=64 * 1024 * 1024, description="largest request body (413)"
    )
    rate_limit: str = Field(
        default="", description="per-token request rate, e.g. '20/second' (429); empty: none"
    )
    max_streams_per_token: int = Field(
        default=8, ge=1, le=1000, description="open event streams per token (429 past it)"
    )
    status_change_limit: str = Field(
        default="60/minute", description="POST /status moves per token (429); empty: none"
    )
    auth_failure_limit: str = Field(
        default="30/minute",
        description="failed sign-ins and bearer checks per client address (429); empty: none",
    )

    # Reaching the VM (#11): how long CONFIGURING may last, how long a terminated instance's key
    # files are kept, and where `--allow-ssh-from me` asks for this machine's public address.
    ready_timeout_seconds: float = Field(default=600, gt=0)
    key_grace_minutes: float = Field(default=60, ge=0)
    myip_url: str = "https://checkip.amazonaws.com"

    @field_validator("webhook_urls", mode="after")
    @classmethod
    def _check_webhook_urls(cls, value: str) -> str:
        for url in value.split(","):
            if url.strip():
                check_webhook_url(url.strip())
        return value

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _check_ttl_bounds(self) -> Settings:
        if not self.min_ttl_minutes <= self.default_ttl_minutes <= self.max_ttl_minutes:
            raise ValueError("default_ttl_minutes must lie within min_ttl_minutes..max_ttl_minutes")
        if self.max_ttl_minutes > self.hard_lifetime_minutes:
            raise ValueError("max_ttl_minutes must not exceed hard_lifetime_minutes")
        return self

    @field_validator("aws_ami", "aws_subnet_id", mode="after")
    @classmethod
    def _check_region_map(cls, value: str | None) -> str | None:
        if value:
            region_map(value)
        return value

    def aws_ami_for(self, region: str) -> str | None:
        """The AMI configured for `region`, None for the default (DLAMI) lookup."""
        return region_map(self.aws_ami).get(region.lower()) if self.aws_ami else None

    def aws_subnet_for(self, region: str) -> str | None:
        """The subnet configured for `region`, None for the region's default VPC."""
        return region_map(self.aws_subnet_id).get(region.lower()) if self.aws_subnet_id else None

    @property
    def effective_database_url(self) -> str:
        url = self.database_url or f"sqlite:///{self.home / 'ledger.db'}"
        # Plain postgresql:// means psycopg2 to SQLAlchemy; we ship psycopg 3.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def effective_backend_url(self) -> str:
        return self.pulumi_backend_url or (self.home / "pulumi-state").as_uri()

    @property
    def webhook_url_list(self) -> list[str]:
        return [url.strip() for url in self.webhook_urls.split(",") if url.strip()]

    def ensure_home(self) -> Path:
        """The data dir, made 0700 (an existing wider one is tightened: it holds keys, #26)."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):  # not ours to change (another owner): doctor says so
            if stat.S_IMODE(self.home.stat().st_mode) & 0o077:
                self.home.chmod(0o700)
        return self.home


# Names that reach a cloud's instance metadata service, like 169.254.169.254 itself.
METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "instance-data"})


def check_webhook_url(url: str) -> None:
    """A webhook goes to http(s) only, never to a link-local host (a VM's metadata service, #26).
    A name is checked as written; a receiver is the operator's own choice."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"PROVISIONER_WEBHOOK_URLS: {url[:80]!r} must be an http:// or https:// URL with a host"
        )
    host = parts.hostname.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if (address is not None and address.is_link_local) or host in METADATA_HOSTS:
        raise ValueError(
            f"PROVISIONER_WEBHOOK_URLS: {url[:80]!r} points at a link-local or metadata host "
            "(169.254.0.0/16, fe80::/10): not allowed"
        )


def private_file(path: Path) -> Path:
    """Create `path` if missing, mode 0600 whatever the umask, and make an existing one 0600:
    ledgers (token hashes, SSH keys), passphrase and key files (#10)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


def region_map(value: str | None) -> RegionMap:
    """Parse "region=id,region=id" (or a bare id, meaning every region) into a RegionMap."""
    text = (value or "").strip()
    if text and "=" not in text and "," not in text:
        return RegionMap(default=text)
    entries: dict[str, str] = {}
    for item in text.split(","):
        region, sep, ident = item.strip().partition("=")
        region, ident = region.strip().lower(), ident.strip()
        if not sep or not region or not ident or region in entries:
            raise ValueError(
                f"expected one id or region=id pairs separated by commas, got {item.strip()!r}"
            )
        entries[region] = ident
    return RegionMap(entries=entries)


class RegionMap:
    """Region -> id, with an optional id for every region."""

    def __init__(self, entries: dict[str, str] | None = None, default: str | None = None):
        self.entries = entries or {}
        self.default = default

    def get(self, region: str) -> str | None:
        return self.entries.get(region.lower(), self.default)
