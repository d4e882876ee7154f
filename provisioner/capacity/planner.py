"""From a request to its candidates: every (provider, region, zone, type, spot) it may land on,
in the exact order they will be tried (capacity/order.py: a fair share per region per round,
round-robin across regions and providers, the cheapest candidate first).

Provider-generic: providers, regions, zones and prices all come from the catalog, so a new cloud
is a catalog addition. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from provisioner.capacity.candidates import Candidate
from provisioner.capacity.offers import (
    GpuSpec,
    check_gpu_model,
    find_offers,
    parse_gpu,
    provider_order,
)
from provisioner.capacity.order import failover_order
from provisioner.rules.catalog import Catalog, InstanceType
from provisioner.rules.errors import ValidationError
from provisioner.rules.suggest import did_you_mean

ANY = "ANY"
MAX_ATTEMPTS_LIMIT = 50
DEFAULT_REGIONS = {"AWS": "us-east-1", "AZURE": "eastus"}


@dataclass(frozen=True)
class CapacityRequest:
    """The capacity half of a request (see rules/validation.py ProvisionRequest)."""

    provider: str
    instance_types: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()  # () = the provider's default region; ("any",) = all
    zone: str | None = None
    gpu: str | None = None
    min_gpu_memory_gb: int | None = None
    min_vcpus: int | None = None
    max_price: float | None = None
    spot: bool = False


def split_list(values: tuple[str, ...] | list[str] | str | None) -> tuple[str, ...]:
    """'a,b' or ['a', 'b,c'] -> ('a', 'b', 'c'), blanks dropped, order kept, no repeats."""
    if values is None:
        return ()
    items = [values] if isinstance(values, str) else list(values)
    parts = [p.strip() for item in items for p in str(item).split(",")]
    return tuple(dict.fromkeys(p for p in parts if p))


def is_multi(request: CapacityRequest) -> bool:
    """Whether the request names more than one instance type, region, provider or a GPU."""
    return bool(
        request.gpu
        or request.provider.strip().upper() == ANY
        or len(request.instance_types) > 1
        or len(request.regions) > 1
        or any(r.lower() == "any" for r in request.regions)
        or request.spot
        or request.zone
    )


def _providers(catalog: Catalog, provider: str) -> list[str]:
    key = provider.strip().upper()
    known = provider_order(catalog)
    if key == ANY:
        return known
    if key not in known:
        raise ValidationError(
            "config.provider",
            f"Provider must be {', '.join(known)} or ANY (got {provider!r})",
        )
    return [key]


def _types(catalog: Catalog, providers: list[str], request: CapacityRequest) -> list[InstanceType]:
    if request.gpu:
        gpu: GpuSpec = parse_gpu(
            request.gpu,
            min_gpu_memory_gb=request.min_gpu_memory_gb,
            min_vcpus=request.min_vcpus,
        )
        seen: list[InstanceType] = []
        for offer in find_offers(catalog, gpu, providers=providers):
            if offer.type not in seen:
                seen.append(offer.type)
        if not seen:
            check_gpu_model(catalog, gpu)
            raise ValidationError(
                "config.gpu",
                f"No {'/'.join(providers)} type in the catalog has {gpu.label()}"
                " (see `provisioner offers`)",
            )
        return sorted(seen, key=lambda t: providers.index(t.provider))
    if not request.instance_types:
        raise ValidationError("config.instanceType", "Instance type or GPU is required")
    types = []
    for name in request.instance_types:
        found = [t for p in providers if (t := catalog.get(p, name)) is not None]
        if not found:
            raise ValidationError(
                "config.instanceType",
                f"Instance type {name!r} is not in the {'/'.join(providers)} catalog"
                f"{did_you_mean(name, (t.name for t in catalog.types))}; see `provisioner types`",
            )
        types.extend(found)
    return types


def _regions(itype: InstanceType, request: CapacityRequest) -> list[str]:
    asked = [r.lower() for r in request.regions]
    if not asked:
        if request.gpu:
            return list(itype.regions)
        default = DEFAULT_REGIONS.get(itype.provider)
        return [default if default in itype.regions else itype.regions[0]]
    if "any" in asked:
        return list(itype.regions)
    return [r for r in asked if r in itype.regions]


def plan_candidates(catalog: Catalog, request: CapacityRequest) -> list[Candidate]:
    """Every candidate of the request in the order failover tries them. ValidationError
    (naming the field) when nothing in the catalog fits."""
    providers = _providers(catalog, request.provider)
    types = _types(catalog, providers, request)
    max_price = None if request.max_price is None else Decimal(str(request.max_price))
    if max_price is not None and not (max_price.is_finite() and max_price > 0):
        raise ValidationError("config.maxPrice", "Max price must be a positive $/hour")
    candidates: list[Candidate] = []
    for itype in types:
        for region in _regions(itype, request):
            price = catalog.spot_price(itype, region) if request.spot else itype.price_in(region)
            if price is None:  # no spot price known: bill at the on-demand cap
                price = itype.price_in(region)
            if max_price is not None and price > max_price:
                continue
            # The zones of the region that offer the type (GCP: its accelerator), in order.
            zones = itype.zones_in(region)
            if request.zone:
                if zones and request.zone not in zones:
                    continue
                zones = (request.zone,)
            for zone in zones or (None,):
                candidates.append(
                    Candidate(itype.provider, region, itype.name, zone, request.spot, price)
                )
    if not candidates:
        _explain_empty(request)
    return failover_order(candidates)


def _explain_empty(request: CapacityRequest) -> None:
    if request.max_price is not None:
        raise ValidationError(
            "config.maxPrice", f"No candidate costs at most ${request.max_price}/hour"
        )
    if request.zone:
        raise ValidationError(
            "config.zone", f"Zone {request.zone!r} is not a zone of the requested regions"
        )
    raise ValidationError(
        "config.region",
        f"None of the regions {', '.join(request.regions)} offers the requested types",
    )


def validate_max_attempts(value: int | None, default: int) -> int:
    attempts = default if value is None else value
    if (
        isinstance(attempts, bool)
        or not isinstance(attempts, int)
        or not (1 <= attempts <= MAX_ATTEMPTS_LIMIT)
    ):
        raise ValidationError(
            "config.maxAttempts",
            f"Max attempts must be between 1 and {MAX_ATTEMPTS_LIMIT} (got {value})",
        )
    return attempts
