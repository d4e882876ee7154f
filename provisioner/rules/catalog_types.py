"""The catalog's shapes: instance types (GPU, vCPU, RAM, $/hour, and per region their zones,
list prices and spot prices: one shape for every provider), disk tiers, images, and the Catalog
that holds them. rules/catalog.py loads and checks the data. Standard library only. Money is
`Decimal`; floats appear only in `to_json()`, at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

PROVIDERS = ("AWS", "AZURE", "GCP")


@dataclass(frozen=True)
class InstanceType:
    provider: str
    name: str
    gpu_count: int
    gpu_model: str
    gpu_memory_gb: int  # per GPU (or per GPU slice when gpu_fraction is set)
    vcpus: int
    ram_gb: int
    price_per_hour: Decimal  # on-demand Linux list price, us-east-1 / eastus
    regions: tuple[str, ...]
    retired: bool
    note: str | None
    gpu_fraction: str | None = None  # e.g. "1/6" for a vGPU slice of one card
    # Other regions' list prices where a refresh found them (`catalog refresh`, #5).
    region_prices: tuple[tuple[str, Decimal], ...] = ()
    # Where in each region the type is offered, in the order to try them (GCP: the zones whose
    # GPUs it needs), and its spot price per region where the catalog knows one.
    zones: tuple[tuple[str, tuple[str, ...]], ...] = ()
    spot_prices: tuple[tuple[str, Decimal], ...] = ()

    def price_in(self, region: str | None) -> Decimal:
        """The on-demand price in `region`: its own list price when known, else pricePerHour."""
        return dict(self.region_prices).get((region or "").lower(), self.price_per_hour)

    def zones_in(self, region: str | None) -> tuple[str, ...]:
        """The zones of `region` that offer this type, in order; () when the catalog has none."""
        return dict(self.zones).get((region or "").lower(), ())

    def spot_price_in(self, region: str | None) -> Decimal | None:
        """The spot $/hour in `region`, or None when the catalog has no spot price there."""
        return dict(self.spot_prices).get((region or "").lower())

    def gpu_label(self) -> str:
        """'1x K80', '8x H100', or '1/6 A10' for a slice of a card."""
        if self.gpu_fraction:
            return f"{self.gpu_fraction} {self.gpu_model}"
        return f"{self.gpu_count}x {self.gpu_model}"

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "instanceType": self.name,
            "gpu": self.gpu_label(),
            "gpuCount": self.gpu_count,
            "gpuModel": self.gpu_model,
            "gpuMemoryGB": self.gpu_memory_gb,
            "vcpus": self.vcpus,
            "ramGB": self.ram_gb,
            "costPerHour": float(self.price_per_hour),
            "regions": list(self.regions),
            "retired": self.retired,
            "note": self.note,
            **({"zones": {r: list(z) for r, z in self.zones}} if self.zones else {}),
            **(
                {"spotPrices": {r: float(p) for r, p in self.spot_prices}}
                if self.spot_prices
                else {}
            ),
        }


@dataclass(frozen=True)
class StorageTier:
    """A fixed-size disk tier billed per month whatever is used (Azure Premium SSD P10 ...)."""

    name: str
    size_gb: int
    price_per_month: Decimal


@dataclass(frozen=True)
class GpuImage:
    """The boot image of a set of types and how their GPU driver gets there (catalog "images").

    `ref` is an AWS AMI name filter (owner `owner`) or an Azure image URN; `root_disk_gb` is the
    image's own root size; `extension` names a VM extension that installs the driver."""

    provider: str
    name: str
    ref: str
    architecture: str
    root_disk_gb: int
    driver: str
    types: tuple[str, ...]
    owner: str | None = None
    extension: str | None = None


@dataclass(frozen=True)
class Catalog:
    prices_as_of: str
    types: tuple[InstanceType, ...]
    storage_price_per_gb_month: dict[str, Decimal]
    billing: dict[str, dict[str, Any]]
    storage_tiers: dict[str, tuple[StorageTier, ...]] = field(default_factory=dict)
    # provider -> region -> zones in the order they are tried (#12).
    zones: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    # (provider, type name lowercased) -> ((region, spot $/hour), ...), and when they were read.
    spot_prices: dict[tuple[str, str], tuple[tuple[str, Decimal], ...]] = field(
        default_factory=dict
    )
    spot_prices_as_of: str | None = None

    def zones_of(self, provider: str, region: str) -> tuple[str, ...]:
        """The region's zones in the order tried; () when placement is left to the cloud."""
        return self.zones.get(provider.strip().upper(), {}).get(region.strip().lower(), ())

    def spot_price(self, itype: InstanceType, region: str) -> Decimal | None:
        """The spot $/hour of `itype` in `region`, else in the first region with one; None when
        the catalog has no spot price for the type."""
        own = itype.spot_price_in(region)  # a type's own per-region spot prices (GCP) first
        if own is not None:
            return own
        prices = self.spot_prices.get((itype.provider, itype.name.lower()), ())
        if not prices:
            return None
        return dict(prices).get(region.strip().lower(), prices[0][1])

    images: dict[str, tuple[GpuImage, ...]] = field(default_factory=dict)
    replacements: dict[str, dict[str, str]] = field(default_factory=dict)

    def image_for(self, provider: str, name: str) -> GpuImage | None:
        """The image that boots type `name` (case-insensitive), None when none is listed."""
        wanted = name.strip().lower()
        for image in self.images.get(provider.strip().upper(), ()):
            if wanted in (t.lower() for t in image.types):
                return image
        return None

    def replacement_for(self, provider: str, name: str) -> str | None:
        """The type to use instead of retired type `name`."""
        wanted = name.strip().lower()
        table = self.replacements.get(provider.strip().upper(), {})
        return next((new for old, new in table.items() if old.lower() == wanted), None)

    def for_provider(self, provider: str | None = None) -> list[InstanceType]:
        """All types (provider None) or one provider's, in catalog order."""
        if provider is None:
            return list(self.types)
        key = _provider_key(provider)
        return [t for t in self.types if t.provider == key]

    def get(self, provider: str, name: str) -> InstanceType | None:
        """The type `name` of `provider`; both case-insensitive. None if there is none."""
        key = provider.strip().upper()
        wanted = name.strip().lower()
        for itype in self.types:
            if itype.provider == key and itype.name.lower() == wanted:
                return itype
        return None

    def find(self, name: str) -> InstanceType | None:
        """The type called `name` (case-insensitive) in any provider."""
        wanted = name.strip().lower()
        return next((t for t in self.types if t.name.lower() == wanted), None)

    def regions(self, provider: str) -> tuple[str, ...]:
        """Every region any of the provider's types is listed in, sorted."""
        return tuple(sorted({r for t in self.for_provider(provider) for r in t.regions}))

    def cheapest(self, provider: str) -> InstanceType:
        """The provider's cheapest type that is not retired (ties broken by name)."""
        offered = [t for t in self.for_provider(provider) if not t.retired]
        if not offered:
            raise ValueError(f"The catalog offers no {_provider_key(provider)} type")
        return min(offered, key=lambda t: (t.price_per_hour, t.name))

    def disk_price_per_month(self, provider: str, size_gb: int) -> Decimal:
        """Monthly list price of a `size_gb` disk: its tier where the provider bills by tier
        (the smallest tier that holds it), else size x the per-GB-month rate."""
        key = _provider_key(provider)
        tiers = self.storage_tiers.get(key, ())
        if tiers:
            for tier in tiers:
                if size_gb <= tier.size_gb:
                    return tier.price_per_month
            raise ValueError(
                f"No {key} disk tier holds {size_gb} GB (largest is {tiers[-1].size_gb} GB)"
            )
        return self.storage_price_per_gb_month[key] * size_gb


def _provider_key(provider: str) -> str:
    key = provider.strip().upper()
    if key not in PROVIDERS:
        raise ValueError(f"Provider must be AWS, AZURE or GCP (got {provider!r})")
    return key
