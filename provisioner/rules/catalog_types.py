"""The catalog's shapes: instance types (GPU, vCPU, RAM, $/hour, and per region their zones,
list prices and spot prices: one shape for every provider), disk tiers, images, and the Catalog
that holds them. rules/catalog.py loads and checks the data. Standard library only. Money is
`Decimal`; floats appear only in `to_json()`, at the edge."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

PROVIDERS = ("AWS", "AZURE", "GCP")


@dataclass(frozen=True)
class RegionOffer:
    """What the catalog knows of one type in one region, the same shape for every provider:
    its own on-demand list price (None: the type's pricePerHour stands in, an estimate), its spot
    price (None: none known there) and the zones that offer it, in the order to try them (()
    leaves the zone to the cloud)."""

    region: str
    price: Decimal | None = None
    spot: Decimal | None = None
    zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstanceType:
    provider: str
    name: str
    gpu_count: int
    gpu_model: str
    gpu_memory_gb: int  # per GPU (or per GPU slice when gpu_fraction is set)
    vcpus: int
    ram_gb: int
    price_per_hour: Decimal  # on-demand Linux list price, us-east-1 / eastus / us-central1
    regions: tuple[str, ...]
    retired: bool
    note: str | None
    gpu_fraction: str | None = None  # e.g. "1/6" for a vGPU slice of one card
    # Per region: its list price, spot price and zones (#21: one shape for every provider), in
    # `regions` order; a region the catalog knows nothing more of has no entry.
    by_region: tuple[RegionOffer, ...] = ()

    @functools.cached_property
    def _regions_index(self) -> dict[str, RegionOffer]:
        return {offer.region: offer for offer in self.by_region}

    def in_region(self, region: str | None) -> RegionOffer | None:
        """What the catalog knows of this type in `region`, None when nothing beyond the type."""
        return self._regions_index.get((region or "").strip().lower())

    def has_own_price(self, region: str | None) -> bool:
        """Whether `region` has a list price of its own (else pricePerHour is an estimate)."""
        found = self.in_region(region)
        return found is not None and found.price is not None

    def price_in(self, region: str | None) -> Decimal:
        """The on-demand price in `region`: its own list price when known, else pricePerHour."""
        found = self.in_region(region)
        return found.price if found is not None and found.price is not None else self.price_per_hour

    def zones_in(self, region: str | None) -> tuple[str, ...]:
        """The zones of `region` that offer this type, in order; () when the catalog has none."""
        found = self.in_region(region)
        return found.zones if found is not None else ()

    def spot_price_in(self, region: str | None) -> Decimal | None:
        """The spot $/hour in `region`, or None when the catalog has no spot price there."""
        found = self.in_region(region)
        return found.spot if found is not None else None

    def spot_price_or_estimate(self, region: str | None) -> Decimal | None:
        """The spot $/hour in `region`, else the first region's that has one (an estimate);
        None when the catalog has no spot price for the type at all."""
        own = self.spot_price_in(region)
        if own is not None:
            return own
        return next((o.spot for o in self.by_region if o.spot is not None), None)

    def _map(self, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for offer in self.by_region:
            value = getattr(offer, key)
            if value:
                out[offer.region] = float(value) if isinstance(value, Decimal) else list(value)
        return out

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
            **({"zones": zones} if (zones := self._map("zones")) else {}),
            **({"spotPrices": spot} if (spot := self._map("spot")) else {}),
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
    # When the spot prices were read (the catalog's spotPrices.asOf); the prices are per type.
    spot_prices_as_of: str | None = None

    def zones_of(self, provider: str, region: str) -> tuple[str, ...]:
        """The zones of `region` any of the provider's types lists, in the order first listed;
        () when placement is left to the cloud."""
        key, wanted = provider.strip().upper(), region.strip().lower()
        zones: dict[str, None] = {}
        for itype in self.types:
            if itype.provider == key:
                zones.update(dict.fromkeys(itype.zones_in(wanted)))
        return tuple(zones)

    def spot_price(self, itype: InstanceType, region: str) -> Decimal | None:
        """The spot $/hour of `itype` in `region`, else in the first region with one; None when
        the catalog has no spot price for the type."""
        return itype.spot_price_or_estimate(region)

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
