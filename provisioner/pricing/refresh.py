"""`provisioner catalog refresh`: on-demand Linux list prices from the clouds' public price files.

- AWS: the Price List bulk API (no credentials). The region index names each region's current
  EC2 offer file; we stream its CSV form line by line (hundreds of MB for us-east-1) and keep only
  the catalog's types (Linux, shared tenancy, no pre-installed software, on-demand) and gp3.
- Azure: the Retail Prices API, paged (`NextPageLink`), filtered to the catalog's VM sizes, with
  Windows, Spot and Low Priority meters dropped; and the Premium SSD LRS tiers in eastus.

The refreshed catalog is written to `<PROVISIONER_HOME>/catalog.json` (the packaged file may be
read-only), which `load_catalog(home=...)` then prefers. Nothing is written unless every source
was read: offline, it fails with one line and the old data stays.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from provisioner.pricing import refresh_gcp
from provisioner.pricing.azure_retail import (
    AZURE_BATCH,
    AZURE_PRICES,
    azure_items,
    decimal_price,
    parse_azure_vm_meters,
)
from provisioner.pricing.spot import apply_spot_prices, fetch_spot_prices
from provisioner.rules.catalog import (
    LOCAL_CATALOG,
    fold_legacy_tables,
    packaged_catalog_text,
    parse_catalog,
)
from provisioner.rules.errors import CatalogRefreshError

AWS_HOST = "https://pricing.us-east-1.amazonaws.com"
AWS_REGION_INDEX = f"{AWS_HOST}/offers/v1.0/aws/AmazonEC2/current/region_index.json"
REFERENCE_REGION = {"AWS": "us-east-1", "AZURE": "eastus", "GCP": "us-central1"}

Progress = Callable[[str], None]
Prices = dict[tuple[str, str], Decimal]  # (type name, region) -> $/hour


@dataclass
class RefreshResult:
    path: Path
    prices_as_of: str
    checked: int = 0
    changes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    spot: list[str] = field(default_factory=list)  # types whose spot prices were read (#12)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "pricesAsOf": self.prices_as_of,
            "checked": self.checked,
            "changes": self.changes,
            "missing": self.missing,
            "spot": self.spot,
        }


# -- AWS ----------------------------------------------------------------------------------------


def parse_aws_offer_csv(
    lines: Iterable[str], wanted: set[str]
) -> tuple[dict[str, Decimal], Decimal | None]:
    """(on-demand Linux $/hour per wanted instance type, gp3 $/GB-month) from an EC2 offer CSV.

    The file opens with metadata lines ("FormatVersion", "Disclaimer", ...) before the header.
    """
    rows = iter(lines)
    for line in rows:
        if line.startswith('"SKU"'):
            header = next(csv.reader([line]))
            break
    else:
        raise ValueError('no header row ("SKU", ...) in the AWS offer file')
    prices: dict[str, Decimal] = {}
    gp3: Decimal | None = None
    for values in csv.reader(rows):
        row = dict(zip(header, values, strict=False))
        if row.get("TermType") != "OnDemand" or row.get("Currency", "USD") != "USD":
            continue
        family = row.get("Product Family")
        if family == "Compute Instance" and row.get("Instance Type") in wanted:
            if (
                row.get("Operating System") == "Linux"
                and row.get("Tenancy") == "Shared"
                and row.get("Pre Installed S/W") in ("NA", "", None)
                and row.get("CapacityStatus", "Used") == "Used"
                and row.get("License Model", "No License required") == "No License required"
                and row.get("Unit") == "Hrs"
                and row.get("operation", "RunInstances") == "RunInstances"
                and row.get("MarketOption", "OnDemand") == "OnDemand"
            ):
                price = decimal_price(row.get("PricePerUnit"))
                if price is not None:
                    prices[row["Instance Type"]] = price
        elif (
            family == "Storage"
            and row.get("Volume API Name") == "gp3"
            and row.get("Unit") == "GB-Mo"
        ):
            gp3 = decimal_price(row.get("PricePerUnit")) or gp3
    return prices, gp3


def fetch_aws(
    client: httpx.Client, types: set[str], regions: Iterable[str], progress: Progress
) -> tuple[Prices, dict[str, Decimal]]:
    """Prices of `types` in each region, and gp3 $/GB-month per region."""
    index = client.get(AWS_REGION_INDEX).raise_for_status().json()
    prices: Prices = {}
    gp3: dict[str, Decimal] = {}
    for region in regions:
        entry = index.get("regions", {}).get(region)
        if entry is None:
            progress(f"AWS {region}: not in the price list's region index, skipped")
            continue
        url = AWS_HOST + entry["currentVersionUrl"].replace("/index.json", "/index.csv")
        progress(f"AWS {region}: streaming {url}")
        with client.stream("GET", url) as response:
            response.raise_for_status()
            found, disk = parse_aws_offer_csv(response.iter_lines(), types)
        prices.update({(name, region): price for name, price in found.items()})
        if disk is not None:
            gp3[region] = disk
    return prices, gp3


# -- Azure --------------------------------------------------------------------------------------


def parse_azure_vm_items(
    items: Iterable[dict[str, Any]], wanted: set[str], regions: set[str]
) -> Prices:
    """On-demand Linux $/hour per (size, region) from Retail Prices API items."""
    return parse_azure_vm_meters(items, wanted, regions, spot=False)


def parse_azure_disk_items(items: Iterable[dict[str, Any]], tiers: set[str]) -> dict[str, Decimal]:
    """Monthly price per Premium SSD LRS tier (P10 ...) from Retail Prices API items."""
    prices: dict[str, Decimal] = {}
    for item in items:
        meter = str(item.get("meterName", ""))
        tier = meter.removesuffix(" LRS Disk")
        if (
            tier in tiers
            and meter.endswith(" LRS Disk")
            and item.get("unitOfMeasure") == "1/Month"
            and item.get("type") == "Consumption"
        ):
            price = decimal_price(item.get("retailPrice"))
            if price is not None:
                prices[tier] = price
    return prices


def fetch_azure(
    client: httpx.Client, types: set[str], regions: set[str], tiers: set[str], progress: Progress
) -> tuple[Prices, dict[str, Decimal]]:
    prices: Prices = {}
    names = sorted(types)
    for start in range(0, len(names), AZURE_BATCH):
        batch = names[start : start + AZURE_BATCH]
        skus = " or ".join(f"armSkuName eq '{name}'" for name in batch)
        progress(f"AZURE: querying {len(batch)} VM size(s)")
        odata = f"serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and ({skus})"
        prices.update(parse_azure_vm_items(azure_items(client, odata), set(batch), regions))
    region = REFERENCE_REGION["AZURE"]
    progress(f"AZURE: querying Premium SSD disk tiers in {region}")
    odata = (
        f"serviceName eq 'Storage' and armRegionName eq '{region}' "
        "and productName eq 'Premium SSD Managed Disks'"
    )
    disks = parse_azure_disk_items(azure_items(client, odata), tiers)
    return prices, disks


# -- rewriting the catalog ----------------------------------------------------------------------


def _current_text(home: Path) -> str:
    local = home / LOCAL_CATALOG
    return local.read_text(encoding="utf-8") if local.exists() else packaged_catalog_text()


def _dump(raw: dict[str, Any]) -> str:
    def number(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value.normalize())
        raise TypeError(f"cannot write {type(value).__name__} to the catalog")

    return json.dumps(raw, indent=1, ensure_ascii=False, default=number) + "\n"


def _apply_prices(
    raw: dict[str, Any], provider: str, prices: Prices, result: RefreshResult
) -> None:
    reference = REFERENCE_REGION[provider]
    for entry in raw["instanceTypes"]:
        if entry["provider"] != provider:
            continue
        name = entry["name"]
        result.checked += 1
        found = prices.get((name, reference))
        if found is None:
            result.missing.append(
                f"{provider} {name}: no on-demand Linux price in {reference}"
                f"{' (retired)' if entry.get('retired') else ''}; kept ${entry['pricePerHour']}"
            )
        elif Decimal(entry["pricePerHour"]) != found:
            result.changes.append(
                f"{provider} {name} {reference}: ${entry['pricePerHour']} -> ${found}/hour"
            )
            entry["pricePerHour"] = found
        regional = dict(entry.get("regionPrices") or {})
        for region in entry["regions"]:
            price = prices.get((name, region))
            if price is not None:  # the reference region too: its own price, not an estimate
                regional[region] = price
        if regional:
            entry["regionPrices"] = dict(sorted(regional.items()))


def _apply_storage(
    raw: dict[str, Any], gp3: dict[str, Decimal], tiers: dict[str, Decimal], result: RefreshResult
) -> None:
    aws = raw["storage"]["AWS"]
    price = gp3.get(REFERENCE_REGION["AWS"])
    if price is not None and Decimal(aws["pricePerGBMonth"]) != price:
        result.changes.append(f"AWS gp3: ${aws['pricePerGBMonth']} -> ${price}/GB-month")
        aws["pricePerGBMonth"] = price
    azure = raw["storage"]["AZURE"]
    for tier in azure.get("tiers", []):
        found = tiers.get(tier["tier"])
        if found is not None and Decimal(tier["pricePerMonth"]) != found:
            result.changes.append(
                f"AZURE Premium SSD {tier['tier']}: ${tier['pricePerMonth']} -> ${found}/month"
            )
            tier["pricePerMonth"] = found
        if tier["tier"] == "P10" and found is not None:  # the per-GB stand-in is the P10 rate
            azure["pricePerGBMonth"] = (found / tier["sizeGB"]).quantize(Decimal("0.0001"))


def _write(path: Path, text: str) -> None:
    parse_catalog(text, source=str(path))  # never write a catalog we could not load
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".catalog-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refresh_catalog(
    home: Path,
    *,
    providers: Iterable[str] = ("AWS", "AZURE"),
    aws_regions: Iterable[str] = (),
    client: httpx.Client | None = None,
    today: date | None = None,
    on_progress: Progress | None = None,
    gcp_token: str | None = None,
) -> RefreshResult:
    """Re-price the catalog's types from the public price lists into `<home>/catalog.json`.

    GCP's Billing Catalog needs credentials: `gcp_token`, an OAuth access token (ADC)."""
    progress = on_progress or (lambda _line: None)
    raw = json.loads(_current_text(home), parse_float=Decimal)
    fold_legacy_tables(raw)  # a data-dir catalog of an earlier version: into the one shape
    day = (today or datetime.now(UTC).date()).isoformat()
    result = RefreshResult(path=home / LOCAL_CATALOG, prices_as_of=day)
    http = client or httpx.Client(
        timeout=httpx.Timeout(30.0, read=120.0),
        follow_redirects=True,
        headers={"User-Agent": "provisioner catalog refresh"},
    )
    sources: dict[str, str] = {}
    gp3: dict[str, Decimal] = {}
    tiers: dict[str, Decimal] = {}
    providers_done: list[str] = []
    if "GCP" in providers and not gcp_token:
        raise CatalogRefreshError(
            "Catalog refresh failed: GCP prices need Application Default Credentials "
            "(the Cloud Billing Catalog API is not anonymous); the catalog was not changed"
        )
    try:
        for provider in providers:
            providers_done.append(provider)
            types = {t["name"] for t in raw["instanceTypes"] if t["provider"] == provider}
            if provider == "GCP":
                entries = [t for t in raw["instanceTypes"] if t["provider"] == "GCP"]
                prices, gcp_spot, disk = refresh_gcp.fetch_gcp(
                    http, entries, str(gcp_token), progress
                )
                refresh_gcp.apply_spot(raw, gcp_spot, result.changes)
                refresh_gcp.apply_disk(raw, disk, result.changes)
                sources["GCP"] = refresh_gcp.GCP_BILLING
            elif provider == "AWS":
                regions = tuple(aws_regions) or (REFERENCE_REGION["AWS"],)
                prices, gp3 = fetch_aws(http, types, regions, progress)
                sources["AWS"] = AWS_REGION_INDEX
            else:
                regions_all = {
                    r
                    for t in raw["instanceTypes"]
                    if t["provider"] == "AZURE"
                    for r in t["regions"]
                }
                names = {t["tier"] for t in raw["storage"]["AZURE"].get("tiers", [])}
                prices, tiers = fetch_azure(http, types, regions_all, names, progress)
                sources["AZURE"] = AZURE_PRICES
            _apply_prices(raw, provider, prices, result)
        spot = fetch_spot_prices(http, raw, tuple(providers_done), progress)
    except httpx.HTTPError as exc:
        where = str(exc.request.url) if _has_request(exc) else "the price list"
        raise CatalogRefreshError(
            f"Catalog refresh failed: could not read {where} ({type(exc).__name__}: {exc}); "
            "the catalog was not changed"
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CatalogRefreshError(
            f"Catalog refresh failed: a price list was not in the expected format ({exc}); "
            "the catalog was not changed"
        ) from exc
    finally:
        if client is None:
            http.close()
    _apply_storage(raw, gp3, tiers, result)
    result.spot = apply_spot_prices(raw, spot, day)
    raw["pricesAsOf"] = day
    refreshed = raw.setdefault("refreshed", {})
    for provider, url in sources.items():
        refreshed[provider] = {"on": day, "source": url}
    _write(result.path, _dump(raw))
    return result


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 (raises RuntimeError when the error has no request)
    except RuntimeError:
        return False
    return True
