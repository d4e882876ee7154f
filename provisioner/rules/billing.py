"""The cost model: compute billed per each provider's documented granularity, plus the disk.

- Compute: `costPerHour x billed seconds / 3600`, where the billed seconds follow the catalog's
  `billing` rule for the provider (AWS Linux on-demand: per second with a 60-second minimum;
  Azure: by the second; GCP: per second with a 1-minute minimum), from the cloud's acceptance of
  the VM (billed_from) to terminatedAt (or now).
- Public IPv4 (#24): the address's $/hour (rules/public_ip.py, captured when the candidate is
  chosen, None when the VM has no public address) x the same billed seconds as the compute.
- Storage: `disk GB x $/GB-month x billed seconds / (730 h x 3600)`. 730 hours is the average
  month (8760 h / 12), the month Azure's price pages use; AWS prorates over the calendar month's
  real length, so an AWS disk bill differs from ours by at most +-4% of an already tiny figure.
- The $/GB-month is captured when the instance is created (`storage_price_gb_month`), so a later
  catalog refresh never rewrites the history. For Azure Premium SSD, billed by tier, it is the
  tier's monthly price divided by the disk size (a 100 GB disk is a P10: 19.71 / 100).

Money is Decimal throughout; floats appear only at the JSON edge. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from provisioner.rules.catalog import Catalog
from provisioner.rules.costs import SECONDS_PER_HOUR, round_money

HOURS_PER_MONTH = Decimal(730)
SECONDS_PER_MONTH = HOURS_PER_MONTH * SECONDS_PER_HOUR
GB_MONTH_QUANTUM = Decimal("0.000001")  # the ledger column's precision (Numeric(14, 6))


@dataclass(frozen=True)
class CostSplit:
    compute: Decimal
    storage: Decimal
    public_ipv4: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.compute + self.storage + self.public_ipv4

    def to_json(self) -> dict[str, float]:
        return {
            "compute": float(self.compute),
            "storage": float(self.storage),
            "public_ipv4": float(self.public_ipv4),
        }


def default_billing() -> dict[str, dict[str, Any]]:
    """The packaged catalog's billing rules (what the SQL uses when not given the service's)."""
    from provisioner.rules.catalog import load_catalog

    return load_catalog().billing


def billed_seconds(rule: dict[str, Any], start: datetime, end: datetime) -> int:
    """Seconds the provider bills for a resource that existed from `start` to `end`.

    `rule` is a catalog `billing` entry: granularitySeconds, minimumSeconds, rounding up|down.
    Nothing is billed for an interval that is empty or negative.
    """
    seconds = Decimal(str((end - start).total_seconds()))
    if seconds <= 0:
        return 0
    step = int(rule["granularitySeconds"])
    steps = seconds / step
    rounding = ROUND_CEILING if rule["rounding"] == "up" else ROUND_FLOOR
    whole = int(steps.to_integral_value(rounding=rounding))
    return max(whole * step, int(rule["minimumSeconds"]))


def storage_price_gb_month(
    catalog: Catalog, provider: str, disk_gb: int, *, instance_type: str | None = None
) -> Decimal:
    """The effective $/GB-month of a `disk_gb` request (tier price / size where billed by tier).

    With `instance_type`, every disk the VM gets is in it: on AWS the image's root volume
    (`billed_disks`) besides the data disk, so `price x disk_gb` is the whole storage bill."""
    disks = billed_disks(catalog, provider, disk_gb, instance_type) if instance_type else [disk_gb]
    monthly = sum((catalog.disk_price_per_month(provider, size) for size in disks), Decimal(0))
    return (monthly / disk_gb).quantize(GB_MONTH_QUANTUM, rounding=ROUND_HALF_UP)


def billed_disks(
    catalog: Catalog, provider: str, disk_gb: int, instance_type: str | None
) -> list[int]:
    """The sizes of the disks a VM of `instance_type` with a `disk_gb` request gets (#13).

    AWS: the image's root volume at the image's own size plus a `disk_gb` data disk at /data
    (the DLAMI's 75 GB root refuses anything smaller). Azure: one OS disk of `disk_gb`."""
    image = catalog.image_for(provider, instance_type) if instance_type else None
    if provider.upper() == "AWS" and image is not None:
        return [image.root_disk_gb, disk_gb]
    return [disk_gb]


def compute_cost(price_per_hour: Decimal, seconds: int) -> Decimal:
    return round_money(price_per_hour * seconds / SECONDS_PER_HOUR)


def public_ipv4_cost(price_per_hour: Decimal | None, seconds: int) -> Decimal:
    """The public IPv4 address's cost over `seconds` (None: the VM has no public address)."""
    if price_per_hour is None:
        return Decimal(0)
    return compute_cost(price_per_hour, seconds)


def storage_cost(price_gb_month: Decimal | None, disk_gb: int, seconds: int) -> Decimal:
    if price_gb_month is None:  # recorded before disks were costed
        return Decimal(0)
    return round_money(price_gb_month * disk_gb * seconds / SECONDS_PER_MONTH)


def cost_split(
    catalog: Catalog,
    *,
    provider: str,
    price_per_hour: Decimal,
    price_gb_month: Decimal | None,
    disk_gb: int,
    start: datetime,
    end: datetime,
    ipv4_per_hour: Decimal | None = None,
) -> CostSplit:
    """Compute, storage and public IPv4 cost of one instance that held resources from `start`
    to `end`."""
    seconds = billed_seconds(catalog.billing[provider], start, end)
    return CostSplit(
        compute=compute_cost(price_per_hour, seconds),
        storage=storage_cost(price_gb_month, disk_gb, seconds),
        public_ipv4=public_ipv4_cost(ipv4_per_hour, seconds),
    )


def projected_cost(
    price_per_hour: Decimal,
    price_gb_month: Decimal,
    disk_gb: int,
    minutes: int,
    ipv4_per_hour: Decimal | None = None,
) -> CostSplit:
    """What a request may cost if it lives its whole auto-terminate time (budgets)."""
    seconds = minutes * 60
    return CostSplit(
        compute=compute_cost(price_per_hour, seconds),
        storage=storage_cost(price_gb_month, disk_gb, seconds),
        public_ipv4=public_ipv4_cost(ipv4_per_hour, seconds),
    )


class CostedRow(Protocol):
    """What an instance's cost needs of its ledger row (the ORM's `Instance` or the fast read
    path's row, ledger/fastread.py)."""

    @property
    def provider(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def cost_per_hour(self) -> Decimal: ...
    @property
    def storage_price_gb_month(self) -> Decimal | None: ...
    @property
    def disk_size_gb(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def billed_from(self) -> datetime | None: ...
    @property
    def terminated_at(self) -> datetime | None: ...
    @property
    def meta(self) -> Mapping[str, Any]: ...
    @property
    def total_cost(self) -> Decimal | None: ...
    @property
    def compute_cost(self) -> Decimal | None: ...
    @property
    def storage_cost(self) -> Decimal | None: ...
    @property
    def public_ip_price_per_hour(self) -> Decimal | None: ...
    @property
    def public_ip_cost(self) -> Decimal | None: ...


def billed_until(catalog: Catalog, instance: CostedRow, end: datetime) -> CostSplit:
    """Compute, disk and public IPv4 cost of an instance from its billing start to `end`, per the
    provider's billing rule, plus what earlier VMs of it cost (carried over a recovery)."""
    price_gb_month = instance.storage_price_gb_month
    meta = instance.meta or {}
    # After a recovery (#12) the current VM bills from its relaunch; the earlier ones' cost
    # is carried.
    start = instance.created_at
    if meta.get("segmentStart"):
        start = datetime.fromisoformat(str(meta["segmentStart"]).replace("Z", "+00:00"))
    if instance.billed_from is not None:  # the cloud accepted the VM then (#24)
        start = instance.billed_from
    elif instance.status == "PROVISIONING":  # no VM exists: nothing bills
        end = start
    split = cost_split(
        catalog,
        provider=instance.provider,
        price_per_hour=Decimal(instance.cost_per_hour),
        price_gb_month=None if price_gb_month is None else Decimal(price_gb_month),
        disk_gb=instance.disk_size_gb,
        start=start,
        end=max(end, start),
        ipv4_per_hour=(
            None
            if instance.public_ip_price_per_hour is None
            else Decimal(instance.public_ip_price_per_hour)
        ),
    )
    carried = meta.get("carriedCost")
    if not carried:
        return split
    return CostSplit(
        compute=split.compute + Decimal(str(carried.get("compute", 0))),
        storage=split.storage + Decimal(str(carried.get("storage", 0))),
        public_ipv4=split.public_ipv4 + Decimal(str(carried.get("publicIpv4", 0))),
    )


def instance_cost(catalog: Catalog, instance: CostedRow, now: datetime) -> CostSplit:
    """An instance's cost as shown: frozen once it ended, billed so far while it lives."""
    if instance.total_cost is not None:  # frozen when it ended
        total = Decimal(instance.total_cost)
        if instance.compute_cost is None:  # ended before the cost split existed
            return CostSplit(compute=total, storage=Decimal(0))
        return CostSplit(
            compute=Decimal(instance.compute_cost),
            storage=Decimal(instance.storage_cost or 0),
            public_ipv4=Decimal(instance.public_ip_cost or 0),
        )
    return billed_until(catalog, instance, instance.terminated_at or now)
