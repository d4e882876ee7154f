"""`catalog refresh --provider gcp` against a recorded sample of the Cloud Billing Catalog API
(tests/data/pricing/gcp_billing_skus_page*.json). Only the network is faked
(httpx.MockTransport); the paging, parsing, summing and rewriting are real."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from provisioner.pricing.refresh import refresh_catalog
from provisioner.pricing.refresh_gcp import parse_skus, type_price
from provisioner.rules.catalog import load_catalog
from provisioner.rules.errors import CatalogRefreshError

SAMPLES = Path(__file__).parents[1] / "data" / "pricing"
TOKEN = "ya29.test-token"


def billing_site(request: httpx.Request) -> httpx.Response:
    url = urlsplit(str(request.url))
    if url.hostname != "cloudbilling.googleapis.com":
        return httpx.Response(404)
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return httpx.Response(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED"}})
    assert url.path == "/v1/services/6F81-5844-456A/skus"
    query = parse_qs(url.query)
    assert query["currencyCode"] == ["USD"]
    page = "2" if query.get("pageToken") else "1"
    return httpx.Response(200, content=(SAMPLES / f"gcp_billing_skus_page{page}.json").read_bytes())


def client() -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(billing_site))


def test_parse_skus_keeps_on_demand_and_spot_and_the_newest_price():
    pages = [json.loads((SAMPLES / f"gcp_billing_skus_page{n}.json").read_text()) for n in (1, 2)]
    rates = parse_skus(sku for page in pages for sku in page["skus"])
    assert rates[("Nvidia L4 GPU", "OnDemand", "us-central1")] == Decimal("0.6")  # not 0.56004
    assert rates[("Nvidia L4 GPU", "Preemptible", "us-central1")] == Decimal("0.224")
    assert rates[("G2 Instance Core", "OnDemand", "europe-west4")] == Decimal("0.0275")
    assert rates[("Balanced PD Capacity", "OnDemand", "us-central1")] == Decimal("0.11")
    assert not any("Sole Tenancy" in name or "Commitment" in name for name, _, _ in rates)
    assert not any(usage == "Commit1Yr" for _, usage, _ in rates)
    entry = {"name": "n1-standard-4+t4", "gpuModel": "T4", "gpuCount": 1, "vcpus": 4, "ramGB": 15}
    assert type_price(entry, rates, "OnDemand", "us-central1") == Decimal("0.5400")
    assert type_price(entry, rates, "OnDemand", "europe-west4") is None  # no N1 price there


def test_refresh_reprices_gcp_types_spot_and_disk_into_the_data_dir(home):
    home.mkdir(parents=True)
    result = refresh_catalog(
        home, providers=("GCP",), client=client(), today=date(2026, 12, 2), gcp_token=TOKEN
    )
    assert "GCP g2-standard-4 us-central1: $0.7068 -> $0.7468/hour" in result.changes
    assert "GCP pd-balanced: $0.10 -> $0.11/GB-month" in result.changes
    assert any(m.startswith("GCP a2-highgpu-1g: no on-demand") for m in result.missing)
    catalog = load_catalog(home=home)
    assert catalog.prices_as_of == "2026-12-02"
    g2 = catalog.get("GCP", "g2-standard-4")
    assert g2.price_per_hour == Decimal("0.7468")
    assert g2.price_in("europe-west4") == Decimal("0.7775")
    assert g2.spot_price_in("us-central1") == Decimal("0.2827")
    assert catalog.get("GCP", "n1-standard-4+t4").price_per_hour == Decimal("0.54")
    assert catalog.get("GCP", "a2-highgpu-1g").price_per_hour == Decimal("3.6734")  # kept
    assert catalog.storage_price_per_gb_month["GCP"] == Decimal("0.11")
    assert catalog.get("AWS", "g4dn.xlarge") == load_catalog().get("AWS", "g4dn.xlarge")
    written = json.loads((home / "catalog.json").read_text())
    assert written["refreshed"]["GCP"]["source"].startswith("https://cloudbilling.googleapis.com")
    assert TOKEN not in (home / "catalog.json").read_text()


def test_gcp_refresh_without_credentials_changes_nothing(home):
    home.mkdir(parents=True)
    with pytest.raises(CatalogRefreshError, match="Application Default Credentials"):
        refresh_catalog(home, providers=("GCP",), client=client())
    with pytest.raises(CatalogRefreshError, match="could not read"):
        refresh_catalog(home, providers=("GCP",), client=client(), gcp_token="wrong")
    assert not (home / "catalog.json").exists()
