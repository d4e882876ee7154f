"""The Azure Retail Prices API, shared by the on-demand refresh (refresh.py) and the spot
prices (spot.py): paging, the price text, and the meter filter both use."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

AZURE_PRICES = "https://prices.azure.com/api/retail/prices"
AZURE_API_VERSION = "2023-01-01-preview"
AZURE_BATCH = 10  # VM sizes per query, to keep the filter URL short
MAX_PAGES = 200


def decimal_price(text: Any) -> Decimal | None:
    """A positive finite price, normalised (0.5260000000 -> 0.526); None for anything else
    ("N/A*" where a size is not offered as spot, zero, garbage)."""
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value <= 0:
        return None
    return Decimal(format(value.normalize(), "f"))


def azure_items(client: httpx.Client, odata_filter: str) -> Iterator[dict[str, Any]]:
    """Every item of a Retail Prices query, following NextPageLink (at most MAX_PAGES)."""
    url: str | None = AZURE_PRICES
    params: dict[str, str] | None = {"api-version": AZURE_API_VERSION, "$filter": odata_filter}
    for _page in range(MAX_PAGES):
        if url is None:
            return
        data = client.get(url, params=params).raise_for_status().json()
        yield from data.get("Items", [])
        url, params = data.get("NextPageLink"), None  # the link carries the query


def parse_azure_vm_meters(
    items: Iterable[dict[str, Any]], wanted: set[str], regions: set[str], *, spot: bool
) -> dict[tuple[str, str], Decimal]:
    """Linux $/hour per (size, region): on-demand meters, or (`spot`) the Spot ones; where a
    size has several meters, the newest wins."""
    best: dict[tuple[str, str], tuple[str, Decimal]] = {}
    for item in items:
        sku, region = item.get("armSkuName"), str(item.get("armRegionName", "")).lower()
        if sku not in wanted or region not in regions:
            continue
        sku_name = str(item.get("skuName", ""))
        if spot:
            other_kind = not sku_name.endswith(" Spot")
        else:
            other_kind = any(m in sku_name for m in ("Spot", "Low Priority"))
        if (
            item.get("type") != "Consumption"
            or item.get("unitOfMeasure") != "1 Hour"
            or item.get("currencyCode", "USD") != "USD"
            or str(item.get("productName", "")).endswith("Windows")
            or other_kind
        ):
            continue
        price = decimal_price(item.get("retailPrice"))
        if price is None:
            continue
        started = str(item.get("effectiveStartDate", ""))
        key = (str(sku), region)
        if key not in best or started > best[key][0]:
            best[key] = (started, price)
    return {key: price for key, (_started, price) in best.items()}
