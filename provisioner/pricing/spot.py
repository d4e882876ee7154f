"""Spot prices for `catalog refresh` (#12), from the providers' public data, no credentials:

- AWS: the spot price data behind the EC2 Spot pricing page (`spot.js`: a JSONP callback with
  Linux and Windows $/hour per region and size; some regions under their old names).
- Azure: the Retail Prices API's spot meters (skuName "... Spot"), Linux, the newest meter.

The result goes into each type's `spotPrices` (per region), and the day it was read into the
catalog's `spotPrices.asOf`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import httpx

from provisioner.pricing.azure_retail import (
    AZURE_BATCH,
    AZURE_PRICES,
    azure_items,
    decimal_price,
    parse_azure_vm_meters,
)

AWS_SPOT_URL = "https://website.spot.ec2.aws.a2z.com/spot.js"
# spot.js still names some regions as the first EC2 regions were named.
AWS_LEGACY_REGIONS = {
    "us-east": "us-east-1",
    "us-west": "us-west-1",
    "eu-ireland": "eu-west-1",
    "apac-sin": "ap-southeast-1",
    "apac-syd": "ap-southeast-2",
    "apac-tokyo": "ap-northeast-1",
}

Progress = Callable[[str], None]
SpotPrices = dict[tuple[str, str], Decimal]  # (type, region) -> $/hour


def parse_aws_spot_js(text: str, wanted: set[str]) -> SpotPrices:
    """Linux spot $/hour per (size, region) from spot.js (`callback({...});`)."""
    start, end = text.find("("), text.rfind(")")
    if start < 0 or end <= start:
        raise ValueError("spot.js is not a callback(...) document")
    data = json.loads(text[start + 1 : end])
    prices: SpotPrices = {}
    for region in data["config"]["regions"]:
        name = AWS_LEGACY_REGIONS.get(region["region"], region["region"])
        for group in region.get("instanceTypes", []):
            for size in group.get("sizes", []):
                if size.get("size") not in wanted:
                    continue
                for column in size.get("valueColumns", []):
                    if column.get("name") == "linux":
                        price = decimal_price(column.get("prices", {}).get("USD"))
                        if price is not None:
                            prices[(size["size"], name)] = price
    return prices


def parse_azure_spot_items(
    items: Iterable[dict[str, Any]], wanted: set[str], regions: set[str]
) -> SpotPrices:
    """Linux spot $/hour per (size, region) from Retail Prices API items: the newest meter."""
    return parse_azure_vm_meters(items, wanted, regions, spot=True)


def fetch_spot_prices(
    client: httpx.Client, raw: dict[str, Any], providers: Iterable[str], progress: Progress
) -> dict[str, SpotPrices]:
    """Spot prices of the catalog's (non-retired) types in their regions, per provider."""
    found: dict[str, SpotPrices] = {}
    for provider in providers:
        entries = [
            t for t in raw["instanceTypes"] if t["provider"] == provider and not t.get("retired")
        ]
        types = {t["name"] for t in entries}
        regions = {r for t in entries for r in t["regions"]}
        if provider == "AWS":
            progress(f"AWS: reading spot prices from {AWS_SPOT_URL}")
            text = client.get(AWS_SPOT_URL).raise_for_status().text
            found["AWS"] = parse_aws_spot_js(text, types)
        elif provider == "AZURE":
            prices: SpotPrices = {}
            names = sorted(types)
            for start in range(0, len(names), AZURE_BATCH):
                batch = names[start : start + AZURE_BATCH]
                skus = " or ".join(f"armSkuName eq '{name}'" for name in batch)
                progress(f"AZURE: querying spot meters of {len(batch)} VM size(s)")
                odata = (
                    "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' "
                    f"and contains(skuName, 'Spot') and ({skus})"
                )
                prices.update(
                    parse_azure_spot_items(azure_items(client, odata), set(batch), regions)
                )
            found["AZURE"] = prices
    return found


def apply_spot_prices(raw: dict[str, Any], found: dict[str, SpotPrices], day: str) -> list[str]:
    """Write `found` into each type's spotPrices, the one shape (#21): a provider that was read
    replaces the spot prices of every type it was asked for (not retired), so a type the live
    data has no price for keeps no seed or snapshot figure of another day. Returns one line per
    type whose spot prices were read."""
    spot = raw.setdefault("spotPrices", {})
    lines: list[str] = []
    for provider, prices in found.items():
        by_type: dict[str, dict[str, Decimal]] = {}
        for (name, region), price in sorted(prices.items()):
            by_type.setdefault(name, {})[region] = price
        if not by_type:
            continue
        for entry in raw.get("instanceTypes") or []:
            if entry.get("provider") != provider or entry.get("retired"):
                continue
            if entry.get("name") in by_type:
                entry["spotPrices"] = by_type[entry["name"]]
            else:
                entry.pop("spotPrices", None)
        lines.extend(
            f"{provider} {name}: spot in {len(r)} region(s)" for name, r in by_type.items()
        )
    if found:
        spot["asOf"] = day
        spot["notes"] = (
            f"Read on {day} from AWS's spot price data and the Azure Retail Prices API's spot "
            "meters by `provisioner catalog refresh`."
        )
        spot["sources"] = [AWS_SPOT_URL, AZURE_PRICES]
    return lines
