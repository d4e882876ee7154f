"""GPU specs (`T4:1`, `A100:8`, `H100`) and the offers that match them, cheapest first.

An offer is one instance type in one region with its on-demand and spot $/hour, read from the
catalog: every provider in it (a new cloud is a catalog addition, not a code change). Retired
types are never offered. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from provisioner.rules.catalog import PROVIDERS, Catalog, InstanceType
from provisioner.rules.errors import ValidationError
from provisioner.rules.suggest import did_you_mean

_GPU_SPEC = re.compile(r"^\s*([A-Za-z][A-Za-z0-9-]*)\s*(?::\s*(\d+))?\s*$")


@dataclass(frozen=True)
class GpuSpec:
    model: str
    count: int | None = None  # None: any number of that GPU
    min_gpu_memory_gb: int | None = None  # per GPU
    min_vcpus: int | None = None

    def matches(self, itype: InstanceType) -> bool:
        if self.model != "*" and itype.gpu_model.lower() != self.model.lower():
            return False
        if self.count is not None and (itype.gpu_fraction or itype.gpu_count != self.count):
            return False
        if self.min_gpu_memory_gb is not None and itype.gpu_memory_gb < self.min_gpu_memory_gb:
            return False
        return self.min_vcpus is None or itype.vcpus >= self.min_vcpus

    def label(self) -> str:
        return self.model if self.count is None else f"{self.model}:{self.count}"


def check_gpu_model(catalog: Catalog, spec: GpuSpec | None) -> None:
    """A GPU model no catalog type has is a typo, not an empty result (`--gpu T5`)."""
    if spec is None or spec.model == "*":
        return
    models = {t.gpu_model for t in catalog.types if t.gpu_model}
    if spec.model.lower() not in {m.lower() for m in models}:
        raise ValidationError(
            "config.gpu",
            f"GPU model {spec.model!r} is not in the catalog{did_you_mean(spec.model, models)}; "
            f"known: {', '.join(sorted(models))}",
        )


def parse_gpu(
    text: str, *, min_gpu_memory_gb: int | None = None, min_vcpus: int | None = None
) -> GpuSpec:
    """'T4:1' -> GpuSpec('T4', 1); 'H100' -> any count. ValidationError names the field."""
    found = _GPU_SPEC.match(text or "")
    if not found or (found.group(2) is not None and int(found.group(2)) < 1):
        raise ValidationError(
            "config.gpu", f"GPU must be MODEL or MODEL:COUNT such as T4:1 or A100:8 (got {text!r})"
        )
    for name, value in (("minGpuMemory", min_gpu_memory_gb), ("minVcpus", min_vcpus)):
        if value is not None and (isinstance(value, bool) or value < 1):
            raise ValidationError(f"config.{name}", f"{name} must be a positive integer")
    count = None if found.group(2) is None else int(found.group(2))
    return GpuSpec(found.group(1).upper(), count, min_gpu_memory_gb, min_vcpus)


@dataclass(frozen=True)
class Offer:
    type: InstanceType
    region: str
    price_per_hour: Decimal  # on-demand in that region
    spot_price_per_hour: Decimal | None

    @property
    def provider(self) -> str:
        return self.type.provider

    @property
    def estimated(self) -> bool:
        return not self.type.has_own_price(self.region)

    def price(self, spot: bool) -> Decimal | None:
        return self.spot_price_per_hour if spot else self.price_per_hour

    def to_json(self) -> dict[str, Any]:
        t = self.type
        return {
            "provider": t.provider,
            "instanceType": t.name,
            "region": self.region,
            "gpu": t.gpu_label(),
            "gpuModel": t.gpu_model,
            "gpuCount": t.gpu_count,
            "gpuMemoryGB": t.gpu_memory_gb,
            "vcpus": t.vcpus,
            "ramGB": t.ram_gb,
            "costPerHour": float(self.price_per_hour),
            # No list price of its own in the catalog for this region: the reference region's.
            "priceEstimated": self.estimated,
            "spotCostPerHour": None
            if self.spot_price_per_hour is None
            else float(self.spot_price_per_hour),
        }


def provider_order(catalog: Catalog) -> list[str]:
    """Every provider the catalog has types for, in the catalog's provider order."""
    present = {t.provider for t in catalog.types}
    return [p for p in PROVIDERS if p in present]


def find_offers(
    catalog: Catalog,
    gpu: GpuSpec | None,
    *,
    providers: list[str] | None = None,
    regions: list[str] | None = None,
    spot: bool = False,
    max_price: Decimal | None = None,
) -> list[Offer]:
    """Matching offers, cheapest first (spot price with `spot`; offers without one are left
    out); ties in provider, then catalog, then region order."""
    wanted = providers or provider_order(catalog)
    offers: list[Offer] = []
    for provider in wanted:
        for itype in catalog.for_provider(provider):
            if itype.retired or (gpu is not None and not gpu.matches(itype)):
                continue
            for region in itype.regions:
                if regions and region not in regions:
                    continue
                offer = Offer(
                    itype, region, itype.price_in(region), catalog.spot_price(itype, region)
                )
                price = offer.price(spot)
                if price is None or (max_price is not None and price > max_price):
                    continue
                offers.append(offer)
    return sorted(offers, key=lambda o: o.price(spot) or Decimal(0))


def query_offers(
    catalog: Catalog,
    *,
    gpu: str | None = None,
    provider: str | None = None,
    region: str | None = None,
    spot: bool = False,
    max_price: float | None = None,
    min_gpu_memory_gb: int | None = None,
    min_vcpus: int | None = None,
) -> dict[str, Any]:
    """`provisioner offers` and GET /api/offers: the same JSON. ValidationError names the field."""
    spec = None
    if gpu:
        spec = parse_gpu(gpu, min_gpu_memory_gb=min_gpu_memory_gb, min_vcpus=min_vcpus)
    elif min_gpu_memory_gb is not None or min_vcpus is not None:
        spec = GpuSpec("*", None, min_gpu_memory_gb, min_vcpus)
    providers = None
    if provider and provider.strip().upper() != "ANY":
        known = provider_order(catalog)
        if provider.strip().upper() not in known:
            raise ValidationError(
                "provider", f"Provider must be {', '.join(known)} or ANY (got {provider!r})"
            )
        providers = [provider.strip().upper()]
    if max_price is not None and not (math.isfinite(max_price) and max_price > 0):
        raise ValidationError("maxPrice", "Max price must be a positive $/hour")
    check_gpu_model(catalog, spec)
    if region and provider_order(catalog):
        known_regions = {r for t in catalog.types for r in t.regions}
        if region.strip().lower() not in known_regions:
            raise ValidationError(
                "region",
                f"Region {region!r} is not in the catalog{did_you_mean(region, known_regions)}",
            )
    offers = find_offers(
        catalog,
        spec,
        providers=providers,
        regions=[region.strip().lower()] if region else None,
        spot=spot,
        max_price=None if max_price is None else Decimal(str(max_price)),
    )
    return {
        "success": True,
        "gpu": None if spec is None or spec.model == "*" else spec.label(),
        "spot": spot,
        "pricesAsOf": catalog.prices_as_of,
        "spotPricesAsOf": catalog.spot_prices_as_of,
        "offers": [o.to_json() for o in offers],
        "count": len(offers),
    }
