"""GCP list prices from the Cloud Billing Catalog API (`catalog refresh --provider gcp`).

Compute Engine's SKUs (service 6F81-5844-456A) are paged (`nextPageToken`) and need an OAuth
token (Application Default Credentials) or an API key; the CLI passes an ADC token. A GCP VM's
price is the sum of its parts, each its own SKU with the regions it applies to:

- vCPUs and memory per machine family: "G2 Instance Core", "G2 Instance Ram", "A2 ...",
  "A3 ...", and "N1 Predefined Instance Core/Ram" ($/vCPU-hour, $/GiB-hour);
- GPUs: "Nvidia L4 GPU", "Nvidia Tesla A100 GPU", "Nvidia H100 80gb GPU", "Nvidia Tesla T4 GPU",
  "Nvidia Tesla V100 GPU" ($/GPU-hour);
- the boot disk: "Balanced PD Capacity" ($/GiB-month).

On-demand SKUs have usageType "OnDemand"; spot ones "Preemptible" (descriptions start with
"Spot Preemptible"). Commitments, sole tenancy and custom machine SKUs are ignored. A type is
priced in a region only when every part has a price there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

import httpx

GCP_BILLING = "https://cloudbilling.googleapis.com/v1/services/6F81-5844-456A/skus"
REFERENCE_REGION = "us-central1"
MAX_PAGES = 200
PAGE_SIZE = 5000

# catalog gpuModel -> the SKU's name for the GPU
GPU_SKU_NAMES = {
    "L4": "Nvidia L4 GPU",
    "A100": "Nvidia Tesla A100 GPU",
    "H100": "Nvidia H100 80gb GPU",
    "T4": "Nvidia Tesla T4 GPU",
    "V100": "Nvidia Tesla V100 GPU",
    "P100": "Nvidia Tesla P100 GPU",
}
_IGNORED = ("Commitment", "Sole Tenancy", "Custom", "Reserved", "DWS", "Calendar")

Rates = dict[tuple[str, str, str], Decimal]  # (sku name, usage type, region) -> unit price


def _unit_price(sku: dict[str, Any]) -> Decimal | None:
    """The first tier's price of the newest pricing info, in USD per usage unit."""
    infos = sku.get("pricingInfo") or []
    if not infos:
        return None
    info = max(infos, key=lambda i: str(i.get("effectiveTime", "")))
    tiers = info.get("pricingExpression", {}).get("tieredRates") or []
    if not tiers:
        return None
    price = tiers[-1].get("unitPrice", {})
    if price.get("currencyCode", "USD") != "USD":
        return None
    value = Decimal(str(price.get("units") or 0)) + Decimal(int(price.get("nanos") or 0)) / (
        Decimal(10) ** 9
    )
    if value <= 0:
        return None
    return Decimal(format(value.normalize(), "f"))


def parse_skus(skus: Iterable[dict[str, Any]]) -> Rates:
    """Unit prices by (sku name, OnDemand|Preemptible, region) from Billing Catalog SKUs."""
    rates: Rates = {}
    for sku in skus:
        category = sku.get("category") or {}
        usage = category.get("usageType")
        if category.get("resourceFamily") not in ("Compute", "Storage") or usage not in (
            "OnDemand",
            "Preemptible",
        ):
            continue
        description = str(sku.get("description", ""))
        if any(word in description for word in _IGNORED):
            continue
        name = description.removeprefix("Spot Preemptible ").removeprefix("Preemptible ")
        name = name.split(" running in ")[0].split(" in ")[0].strip()
        price = _unit_price(sku)
        if price is None:
            continue
        for region in sku.get("serviceRegions") or []:
            rates[(name, str(usage), str(region).lower())] = price
    return rates


def _family(machine_type: str) -> str:
    prefix = machine_type.split("-", 1)[0].upper()
    return "N1 Predefined" if prefix == "N1" else prefix


def type_price(entry: dict[str, Any], rates: Rates, usage: str, region: str) -> Decimal | None:
    """The hourly price of a catalog GCP entry in `region` ("OnDemand" or "Preemptible")."""
    machine = str(entry["name"]).split("+", 1)[0]
    family = _family(machine)
    gpu = GPU_SKU_NAMES.get(str(entry["gpuModel"]))
    parts = (
        (f"{family} Instance Core", Decimal(entry["vcpus"])),
        (f"{family} Instance Ram", Decimal(entry["ramGB"])),
        (gpu or "", Decimal(entry["gpuCount"])),
    )
    total = Decimal(0)
    for sku_name, quantity in parts:
        rate = rates.get((sku_name, usage, region))
        if rate is None:
            return None
        total += rate * quantity
    return total.quantize(Decimal("0.0001"))


def fetch_skus(
    client: httpx.Client, token: str, progress: Callable[[str], None]
) -> Iterator[dict[str, Any]]:
    params: dict[str, str | int] = {"currencyCode": "USD", "pageSize": PAGE_SIZE}
    headers = {"Authorization": f"Bearer {token}"}
    for page in range(1, MAX_PAGES + 1):
        progress(f"GCP: Cloud Billing Catalog, Compute Engine SKUs page {page}")
        data = client.get(GCP_BILLING, params=params, headers=headers).raise_for_status().json()
        yield from data.get("skus", [])
        next_token = data.get("nextPageToken")
        if not next_token:
            return
        params = {**params, "pageToken": next_token}


def fetch_gcp(
    client: httpx.Client,
    entries: list[dict[str, Any]],
    token: str,
    progress: Callable[[str], None],
) -> tuple[dict[tuple[str, str], Decimal], dict[tuple[str, str], Decimal], Decimal | None]:
    """(on-demand prices, spot prices) by (type, region), and pd-balanced $/GB-month in the
    reference region."""
    rates = parse_skus(fetch_skus(client, token, progress))
    on_demand: dict[tuple[str, str], Decimal] = {}
    spot: dict[tuple[str, str], Decimal] = {}
    for entry in entries:
        for region in entry["regions"]:
            price = type_price(entry, rates, "OnDemand", region)
            if price is not None:
                on_demand[(entry["name"], region)] = price
            spot_price = type_price(entry, rates, "Preemptible", region)
            if spot_price is not None:
                spot[(entry["name"], region)] = spot_price
    disk = rates.get(("Balanced PD Capacity", "OnDemand", REFERENCE_REGION))
    return on_demand, spot, disk


def apply_spot(
    raw: dict[str, Any], spot: dict[tuple[str, str], Decimal], changes: list[str]
) -> None:
    for entry in raw["instanceTypes"]:
        if entry["provider"] != "GCP":
            continue
        prices = dict(entry.get("spotPrices") or {})
        for region in entry["regions"]:
            found = spot.get((entry["name"], region))
            if found is not None and prices.get(region) != found:
                was = prices.get(region, "?")
                changes.append(f"GCP {entry['name']} {region} spot: ${was} -> ${found}/hour")
                prices[region] = found
        if prices:
            entry["spotPrices"] = dict(sorted(prices.items()))


def apply_disk(raw: dict[str, Any], disk: Decimal | None, changes: list[str]) -> None:
    gcp = raw["storage"].get("GCP")
    if gcp is None or disk is None:
        return
    if Decimal(gcp["pricePerGBMonth"]) != disk:
        changes.append(f"GCP pd-balanced: ${gcp['pricePerGBMonth']} -> ${disk}/GB-month")
        gcp["pricePerGBMonth"] = disk
