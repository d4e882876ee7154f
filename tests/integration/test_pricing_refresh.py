"""`catalog refresh` against recorded samples of the real price-list formats (tests/data/pricing:
the AWS bulk API's region index and EC2 offer CSV, the Azure Retail Prices API's paged JSON).
Only the network is faked (httpx.MockTransport); the parsing and the rewriting are real."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from factories import make_request

from provisioner.ops.service import Provisioner
from provisioner.pricing.refresh import parse_aws_offer_csv, refresh_catalog
from provisioner.rules.catalog import LOCAL_CATALOG, load_catalog
from provisioner.rules.errors import CatalogRefreshError

SAMPLES = Path(__file__).parents[1] / "data" / "pricing"


def price_sites(request: httpx.Request) -> httpx.Response:
    """Answers as pricing.us-east-1.amazonaws.com and prices.azure.com do, from the samples."""
    url = urlsplit(str(request.url))
    if url.hostname == "pricing.us-east-1.amazonaws.com":
        if url.path.endswith("/current/region_index.json"):
            return httpx.Response(200, content=(SAMPLES / "aws_region_index.json").read_bytes())
        region = url.path.split("/")[-2]
        sample = SAMPLES / f"aws_ec2_{region}.csv"
        if url.path.endswith("/index.csv") and sample.exists():
            return httpx.Response(200, content=sample.read_bytes())
    if url.hostname == "website.spot.ec2.aws.a2z.com":
        return httpx.Response(200, content=(SAMPLES / "aws_spot.js").read_bytes())
    if url.hostname == "prices.azure.com":
        query = parse_qs(url.query)
        if "Storage" in query.get("$filter", [""])[0]:
            return httpx.Response(200, content=(SAMPLES / "azure_disk_prices.json").read_bytes())
        page = "2" if "$skip" in query else "1"
        return httpx.Response(
            200, content=(SAMPLES / f"azure_vm_prices_page{page}.json").read_bytes()
        )
    return httpx.Response(404, text="NoSuchKey")


def client(handler=price_sites) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_the_aws_offer_file_yields_on_demand_linux_shared_prices_only():
    lines = (SAMPLES / "aws_ec2_us-east-1.csv").read_text().splitlines()
    prices, gp3 = parse_aws_offer_csv(lines, {"g4dn.xlarge", "p4d.24xlarge", "g5.xlarge"})
    # Not Windows 0.71, not SQL 1.246, not Dedicated 0.579, not Reserved 0.331, not reservations.
    assert prices == {
        "g4dn.xlarge": Decimal("0.526"),
        "g5.xlarge": Decimal("1.006"),
        "p4d.24xlarge": Decimal("21.9576"),
    }
    assert gp3 == Decimal("0.08")  # gp3, not gp2


def test_refresh_rewrites_prices_regions_and_date_into_the_data_dir(home, settings, clock):
    home.mkdir(parents=True)
    result = refresh_catalog(
        home, aws_regions=("us-east-1", "eu-west-1"), client=client(), today=date(2026, 12, 1)
    )
    assert result.path == home / LOCAL_CATALOG
    assert "AWS p4d.24xlarge us-east-1: $21.96 -> $21.9576/hour" in result.changes
    assert "AZURE Standard_NC24ads_A100_v4 eastus: $3.673 -> $3.4/hour" in result.changes
    assert "AZURE Premium SSD P30: $135.17 -> $122.88/month" in result.changes
    assert any(
        "Standard_NC6: no on-demand Linux price in eastus (retired)" in m for m in result.missing
    )
    catalog = load_catalog(home=home)
    assert catalog.prices_as_of == "2026-12-01"
    assert load_catalog().prices_as_of == "2026-11-26"  # the packaged data is untouched
    g4dn = catalog.get("AWS", "g4dn.xlarge")
    assert g4dn.price_per_hour == Decimal("0.526")
    assert g4dn.price_in("eu-west-1") == Decimal("0.587")
    t4 = catalog.get("AZURE", "Standard_NC4as_T4_v3")
    assert t4.price_in("westeurope") == Decimal("0.572")  # the newest meter, not the 2022 one
    assert t4.price_in("eastus") == Decimal("0.526")  # Linux, not Windows, Spot or Low Priority
    raw = json.loads((home / LOCAL_CATALOG).read_text())
    assert raw["refreshed"]["AWS"]["on"] == "2026-12-01"
    # New instances are priced from it, in their region.
    service = Provisioner(settings, clock=clock)
    instance = service.provision(make_request(region="eu-west-1"))
    assert instance.cost_per_hour == 0.587


def test_offline_it_fails_with_one_line_and_keeps_the_old_data(home):
    home.mkdir(parents=True)
    refresh_catalog(home, client=client(), today=date(2026, 12, 1))
    before = (home / LOCAL_CATALOG).read_text()

    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution", request=request)

    with pytest.raises(CatalogRefreshError) as failed:
        refresh_catalog(home, client=client(offline), today=date(2026, 12, 2))
    assert "could not read https://pricing.us-east-1.amazonaws.com" in failed.value.message
    assert "the catalog was not changed" in failed.value.message
    assert len(failed.value.message.splitlines()) == 1
    assert (home / LOCAL_CATALOG).read_text() == before


def test_a_source_failing_half_way_writes_nothing(home):
    home.mkdir(parents=True)

    def azure_down(request: httpx.Request) -> httpx.Response:
        if request.url.host == "prices.azure.com":
            return httpx.Response(503, text="Service Unavailable")
        return price_sites(request)

    with pytest.raises(CatalogRefreshError, match="503"):
        refresh_catalog(home, client=client(azure_down))
    assert not (home / LOCAL_CATALOG).exists()
    assert load_catalog(home=home).prices_as_of == "2026-11-26"


def test_a_garbled_price_list_is_refused(home):
    home.mkdir(parents=True)

    def garbled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    with pytest.raises(CatalogRefreshError, match="expected format"):
        refresh_catalog(home, providers=("AWS",), client=client(garbled))
    assert not (home / LOCAL_CATALOG).exists()


def test_spot_prices_are_read_per_region_with_their_date(home, settings, clock):
    settings.ensure_home()
    refresh_catalog(home, client=client(), today=date(2026, 11, 28))
    catalog = load_catalog(home=home)
    assert catalog.spot_prices_as_of == "2026-11-28"
    g4dn = catalog.get("AWS", "g4dn.xlarge")
    assert catalog.spot_price(g4dn, "us-east-1") == Decimal("0.2104")  # "us-east" in spot.js
    assert catalog.spot_price(g4dn, "us-west-2") == Decimal("0.1893")
    assert catalog.spot_price(g4dn, "eu-west-1") == Decimal("0.2207")  # "eu-ireland"
    t4 = catalog.get("AZURE", "Standard_NC4as_T4_v3")
    assert catalog.spot_price(t4, "eastus") == Decimal("0.0526")  # the Spot meter, Linux
    # A size spot.js lists without a price keeps no AWS spot price from the refresh.
    assert catalog.spot_price(catalog.get("AWS", "p5.48xlarge"), "us-east-1") is None
    service = Provisioner(settings, clock=clock)
    out = service.provision(make_request(spot=True, max_attempts=1))
    assert out.cost_per_hour == pytest.approx(0.2104), "billed at the spot price captured"
