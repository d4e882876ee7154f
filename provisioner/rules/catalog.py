"""The instance-type catalog: loading and checking `provisioner/rules/data/catalog.json`
(prices, sources and per-entry provenance notes), or a refreshed `<home>/catalog.json`. The
shapes live in rules/catalog_types.py and are re-exported here. Standard library only, so
importing it stays cheap for the CLI. Money is `Decimal` (the JSON is parsed with
`parse_float=Decimal`)."""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from provisioner.rules.catalog_types import (
    PROVIDERS,
    Catalog,
    GpuImage,
    InstanceType,
    RegionOffer,
    StorageTier,
    _provider_key,
)

__all__ = [
    "LOCAL_CATALOG",
    "PROVIDERS",
    "Catalog",
    "GpuImage",
    "InstanceType",
    "RegionOffer",
    "StorageTier",
    "_provider_key",
    "fold_legacy_tables",
    "load_catalog",
    "packaged_catalog_text",
    "parse_catalog",
]

_DATA_FILE = "data/catalog.json"

LOCAL_CATALOG = "catalog.json"  # in the data dir, written by `provisioner catalog refresh`


def load_catalog(path: Path | None = None, *, home: Path | None = None) -> Catalog:
    """The packaged catalog (parsed once, then cached), or the catalog file at `path`.

    With `home` (the data dir), a refreshed `<home>/catalog.json` is preferred when present
    (cached while the file is unchanged). Raises ValueError naming the file and the entry when
    the data is malformed.
    """
    if path is None and home is not None:
        local = Path(home) / LOCAL_CATALOG
        try:
            stamp = local.stat().st_mtime_ns
        except OSError:
            return _packaged_catalog()
        return _local_catalog(str(local), stamp)
    if path is None:
        return _packaged_catalog()
    path = Path(path)
    return parse_catalog(path.read_text(encoding="utf-8"), source=str(path))


@functools.lru_cache(maxsize=8)
def _local_catalog(path: str, _mtime_ns: int) -> Catalog:
    return parse_catalog(Path(path).read_text(encoding="utf-8"), source=path)


def packaged_catalog_text() -> str:
    return resources.files("provisioner.rules").joinpath(_DATA_FILE).read_text(encoding="utf-8")


@functools.cache
def _packaged_catalog() -> Catalog:
    return parse_catalog(packaged_catalog_text(), source=f"provisioner/{_DATA_FILE}")


def parse_catalog(text: str, *, source: str = "catalog") -> Catalog:
    try:
        raw = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: the top level must be an object")

    prices_as_of = raw.get("pricesAsOf")
    if not isinstance(prices_as_of, str) or not prices_as_of:
        raise ValueError(f"{source}: pricesAsOf must be a date string")
    entries = raw.get("instanceTypes")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{source}: instanceTypes must be a non-empty list")

    fold_legacy_tables(raw, source)
    types: list[InstanceType] = []
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(entries):
        itype = _parse_type(entry, index, source)
        key = (itype.provider, itype.name.lower())
        if key in seen:
            raise ValueError(
                f"{source}: catalog entry {itype.provider}/{itype.name}: duplicate name "
                f"for {itype.provider}"
            )
        seen.add(key)
        types.append(itype)

    providers = sorted({t.provider for t in types})
    storage, tiers = _parse_storage(raw.get("storage"), providers, source)
    billing = _parse_billing(raw.get("billing"), providers, source)
    spot_as_of = _parse_spot_header(raw.get("spotPrices"), source)
    images = _parse_images(raw.get("images"), source)
    replacements = _parse_replacements(raw.get("replacements"), source)
    return Catalog(
        prices_as_of=prices_as_of,
        types=tuple(types),
        storage_price_per_gb_month=storage,
        billing=billing,
        storage_tiers=tiers,
        spot_prices_as_of=spot_as_of,
        images=images,
        replacements=replacements,
    )


def _parse_spot_header(raw: object, source: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: spotPrices must be an object with asOf")
    as_of = raw.get("asOf")
    if not isinstance(as_of, str) or not as_of:
        raise ValueError(f"{source}: spotPrices.asOf must be a date string")
    return as_of


def fold_legacy_tables(raw: dict[str, Any], source: str = "catalog") -> None:
    """A catalog written before #21 (a `catalog refresh` in the data dir) kept zones per
    provider and region at the top (`zones`) and seed spot prices per provider and type
    (`spotPrices.prices`): fold them into each type's own `zones` and `spotPrices`, the one
    shape, where the type has none of its own; the top-level tables go."""
    zones = raw.pop("zones", None)
    spot = raw.get("spotPrices")
    seeds = spot.pop("prices", None) if isinstance(spot, dict) else None
    listed = raw.get("instanceTypes")
    entries: list[Any] = listed if isinstance(listed, list) else []
    if zones is None and seeds is None:
        return
    if zones is not None and not isinstance(zones, dict):
        raise ValueError(f"{source}: zones must be an object keyed by provider")
    if seeds is not None and not isinstance(seeds, dict):
        raise ValueError(f"{source}: spotPrices.prices must be an object keyed by provider")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("provider"), str):
            continue  # _parse_type names what is wrong with it
        provider, name = entry["provider"], entry.get("name")
        named = entry.get("regions")
        regions: list[Any] = named if isinstance(named, list) else []
        table = (zones or {}).get(provider) or {}
        if isinstance(table, dict) and "zones" not in entry:
            own = {r: table[r] for r in regions if r in table}
            if own:
                entry["zones"] = own
        seed = (seeds or {}).get(provider, {}).get(name) if isinstance(name, str) else None
        if isinstance(seed, dict) and seed:
            entry["spotPrices"] = {**seed, **(entry.get("spotPrices") or {})}


def _parse_type(entry: object, index: int, source: str) -> InstanceType:
    if not isinstance(entry, dict):
        raise ValueError(f"{source}: catalog entry #{index}: must be an object")
    name = entry.get("name")
    provider = entry.get("provider")
    label = f"{provider}/{name}" if isinstance(name, str) and name else f"#{index}"

    def fail(problem: str) -> ValueError:
        return ValueError(f"{source}: catalog entry {label}: {problem}")

    if not isinstance(name, str) or not name.strip():
        raise fail("name must be a non-empty string")
    if not isinstance(provider, str) or provider.strip().upper() not in PROVIDERS:
        raise fail(f"provider must be one of {', '.join(PROVIDERS)} (got {provider!r})")

    def positive_int(key: str) -> int:
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise fail(f"{key} must be a positive integer (got {value!r})")
        return value

    def text(key: str, *, optional: bool = False) -> str | None:
        value = entry.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{key} must be a non-empty string (got {value!r})")
        return value

    price = entry.get("pricePerHour")
    if isinstance(price, bool) or not isinstance(price, (int, Decimal)):
        raise fail(f"pricePerHour must be a number (got {price!r})")
    price = Decimal(price)
    if not price.is_finite() or price <= 0:
        raise fail(f"pricePerHour must be positive (got {price})")

    regions = entry.get("regions")
    if not isinstance(regions, list) or not regions:
        raise fail("regions must be a non-empty list")
    if not all(isinstance(r, str) and r.strip() for r in regions):
        raise fail("every region must be a non-empty string")
    if len(set(regions)) != len(regions):
        raise fail("regions lists a region twice")

    retired = entry.get("retired")
    if not isinstance(retired, bool):
        raise fail(f"retired must be true or false (got {retired!r})")

    return InstanceType(
        provider=provider.strip().upper(),
        name=name.strip(),
        gpu_count=positive_int("gpuCount"),
        gpu_model=str(text("gpuModel")),
        gpu_memory_gb=positive_int("gpuMemoryGB"),
        vcpus=positive_int("vcpus"),
        ram_gb=positive_int("ramGB"),
        price_per_hour=price,
        regions=tuple(r.strip().lower() for r in regions),
        retired=retired,
        note=text("note", optional=True),
        gpu_fraction=text("gpuFraction", optional=True),
        by_region=_by_region(
            [r.strip().lower() for r in regions],
            _parse_region_prices(entry.get("regionPrices"), fail),
            _parse_region_prices(entry.get("spotPrices"), fail, key="spotPrices"),
            _parse_type_zones(entry.get("zones"), regions, fail),
        ),
    )


def _by_region(
    regions: list[str],
    prices: dict[str, Decimal],
    spot: dict[str, Decimal],
    zones: dict[str, tuple[str, ...]],
) -> tuple[RegionOffer, ...]:
    """One RegionOffer per region the type has anything for: its listed regions first, in their
    order, then any other region a price names (sorted)."""
    named = set(prices) | set(spot) | set(zones)
    order = [r for r in regions if r in named] + sorted(named - set(regions))
    return tuple(
        RegionOffer(region, prices.get(region), spot.get(region), zones.get(region, ()))
        for region in order
    )


def _parse_type_zones(raw: object, regions: list[str], fail: Any) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail("zones must be an object of region: [zone, ...]")
    zones: dict[str, tuple[str, ...]] = {}
    for region, names in raw.items():
        if region not in regions:
            raise fail(f"zones.{region}: the region is not in regions")
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(z, str) and z.startswith(region) for z in names)
        ):
            raise fail(f"zones.{region} must be a non-empty list of that region's zones")
        zones[region.strip().lower()] = tuple(z.strip().lower() for z in names)
    return zones


def _parse_region_prices(
    raw: object, fail: Any, *, key: str = "regionPrices"
) -> dict[str, Decimal]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail(f"{key} must be an object of region: price")
    prices: dict[str, Decimal] = {}
    for region, price in raw.items():
        if isinstance(price, bool) or not isinstance(price, (int, Decimal)) or price <= 0:
            raise fail(f"{key}.{region} must be a positive number (got {price!r})")
        prices[str(region).strip().lower()] = Decimal(price)
    return prices


def _parse_storage(
    raw: object, providers: list[str], source: str
) -> tuple[dict[str, Decimal], dict[str, tuple[StorageTier, ...]]]:
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: storage must be an object keyed by provider")
    prices: dict[str, Decimal] = {}
    tiers: dict[str, tuple[StorageTier, ...]] = {}
    for provider in providers:
        spec = raw.get(provider)
        if not isinstance(spec, dict):
            raise ValueError(f"{source}: storage.{provider} is missing")
        price = spec.get("pricePerGBMonth")
        if isinstance(price, bool) or not isinstance(price, (int, Decimal)) or price <= 0:
            raise ValueError(f"{source}: storage.{provider}.pricePerGBMonth must be positive")
        prices[provider] = Decimal(price)
        parsed: list[StorageTier] = []
        for tier in spec.get("tiers") or []:
            if not isinstance(tier, dict):
                raise ValueError(f"{source}: storage.{provider} tiers must be objects")
            size, cost = tier.get("sizeGB"), tier.get("pricePerMonth")
            if (
                not isinstance(tier.get("tier"), str)
                or isinstance(size, bool)
                or not isinstance(size, int)
                or size <= 0
                or not isinstance(cost, (int, Decimal))
                or cost <= 0
            ):
                raise ValueError(f"{source}: storage.{provider} tier {tier.get('tier')!r} is bad")
            parsed.append(StorageTier(tier["tier"], size, Decimal(cost)))
        if parsed:
            tiers[provider] = tuple(sorted(parsed, key=lambda t: t.size_gb))
    return prices, tiers


def _parse_billing(raw: object, providers: list[str], source: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: billing must be an object keyed by provider")
    billing: dict[str, dict[str, Any]] = {}
    for provider in providers:
        spec = raw.get(provider)
        if not isinstance(spec, dict):
            raise ValueError(f"{source}: billing.{provider} is missing")
        for key, least in (("granularitySeconds", 1), ("minimumSeconds", 0)):
            value = spec.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(
                    f"{source}: billing.{provider}.{key} must be an integer >= {least}"
                )
        if spec.get("rounding") not in ("up", "down"):
            raise ValueError(f"{source}: billing.{provider}.rounding must be 'up' or 'down'")
        billing[provider] = dict(spec)
    return billing


def _parse_images(raw: object, source: str) -> dict[str, tuple[GpuImage, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: images must be an object keyed by provider")
    images: dict[str, tuple[GpuImage, ...]] = {}
    for provider in PROVIDERS:
        parsed = []
        for entry in raw.get(provider) or []:
            name = entry.get("image") if isinstance(entry, dict) else None
            ref = entry.get("lookup") or entry.get("urn") if isinstance(entry, dict) else None
            root = entry.get("rootDiskGB") if isinstance(entry, dict) else None
            types = entry.get("types") if isinstance(entry, dict) else None
            if (
                not isinstance(name, str)
                or not isinstance(ref, str)
                or isinstance(root, bool)
                or not isinstance(root, int)
                or root <= 0
                or not isinstance(types, list)
                or not all(isinstance(t, str) for t in types)
            ):
                raise ValueError(
                    f"{source}: images.{provider} entry {name!r} needs image, lookup or urn, "
                    "a positive rootDiskGB and a list of types"
                )
            assert isinstance(entry, dict)
            parsed.append(
                GpuImage(
                    provider=provider,
                    name=name,
                    ref=ref,
                    architecture=str(entry.get("architecture") or "x86_64"),
                    root_disk_gb=root,
                    driver=str(entry.get("driver") or ""),
                    types=tuple(types),
                    owner=entry.get("owner"),
                    extension=entry.get("extension"),
                )
            )
        images[provider] = tuple(parsed)
    return images


def _parse_replacements(raw: object, source: str) -> dict[str, dict[str, str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: replacements must be an object keyed by provider")
    table: dict[str, dict[str, str]] = {}
    for provider in PROVIDERS:
        entries = raw.get(provider) or {}
        if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
        ):
            raise ValueError(f"{source}: replacements.{provider} must map type names to names")
        table[provider] = dict(entries)
    return table
