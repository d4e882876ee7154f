"""The instance-type catalog: the seed's ten types, current types, lookups and data checks."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from provisioner.rules.catalog import PROVIDERS, Catalog, load_catalog, packaged_catalog_text


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# The seed's tables (SERVICE_4_INSTANCE_PROVISIONER.md): type, GPU, vCPUs, RAM GB, $/hour.
SEED = [
    ("AZURE", "Standard_NC6", "1x K80", 6, 56, "0.90"),
    ("AZURE", "Standard_NC12", "2x K80", 12, 112, "1.80"),
    ("AZURE", "Standard_NC24", "4x K80", 24, 224, "3.60"),
    ("AZURE", "Standard_NV6", "1x M60", 6, 56, "1.14"),
    ("AZURE", "Standard_NV12", "2x M60", 12, 112, "2.28"),
    ("AWS", "p2.xlarge", "1x K80", 4, 61, "0.90"),
    ("AWS", "p2.8xlarge", "8x K80", 32, 488, "7.20"),
    ("AWS", "p3.2xlarge", "1x V100", 8, 61, "3.06"),
    ("AWS", "g4dn.xlarge", "1x T4", 4, 16, "0.526"),
    ("AWS", "g4dn.12xlarge", "4x T4", 48, 192, "3.912"),
]

CURRENT = {
    "AWS": [
        "g4dn.2xlarge", "g5.xlarge", "g5.2xlarge", "g5.12xlarge", "g6.xlarge", "g6.12xlarge",
        "g6e.xlarge", "g6e.12xlarge", "p4d.24xlarge", "p5.48xlarge",
    ],
    "AZURE": [
        "Standard_NC4as_T4_v3", "Standard_NC8as_T4_v3", "Standard_NC16as_T4_v3",
        "Standard_NC64as_T4_v3", "Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4",
        "Standard_NC96ads_A100_v4", "Standard_NV6ads_A10_v5", "Standard_NV36ads_A10_v5",
        "Standard_ND96isr_H100_v5",
    ],
}  # fmt: skip


@pytest.mark.parametrize(("provider", "name", "gpu", "vcpus", "ram_gb", "price"), SEED)
def test_seed_types_keep_the_seed_prices_and_specs(
    catalog: Catalog, provider: str, name: str, gpu: str, vcpus: int, ram_gb: int, price: str
) -> None:
    itype = catalog.get(provider, name)
    assert itype is not None, f"{provider} {name} missing"
    assert itype.provider == provider
    assert itype.name == name
    assert itype.gpu_label() == gpu
    assert (itype.vcpus, itype.ram_gb) == (vcpus, ram_gb)
    assert itype.price_per_hour == Decimal(price)
    assert isinstance(itype.price_per_hour, Decimal)


@pytest.mark.parametrize(
    "name",
    ["Standard_NC6", "Standard_NC12", "Standard_NC24", "Standard_NV6", "Standard_NV12"],
)
def test_azure_nc_and_nv_v1_are_retired_with_the_date(catalog: Catalog, name: str) -> None:
    itype = catalog.get("AZURE", name)
    assert itype is not None
    assert itype.retired is True
    assert itype.note is not None and "2023-09-06" in itype.note


@pytest.mark.parametrize("name", ["p2.xlarge", "p2.8xlarge", "p3.2xlarge"])
def test_aws_p2_and_p3_are_retired_with_a_note(catalog: Catalog, name: str) -> None:
    itype = catalog.get("AWS", name)
    assert itype is not None
    assert itype.retired is True
    assert itype.note and "Retired" in itype.note


def test_g4dn_seed_types_are_still_offered(catalog: Catalog) -> None:
    for name in ("g4dn.xlarge", "g4dn.12xlarge"):
        itype = catalog.get("AWS", name)
        assert itype is not None and not itype.retired


@pytest.mark.parametrize(("provider", "name"), [(p, n) for p, ns in CURRENT.items() for n in ns])
def test_current_generation_types_are_present_and_offered(
    catalog: Catalog, provider: str, name: str
) -> None:
    itype = catalog.get(provider, name)
    assert itype is not None, f"{provider} {name} missing"
    assert not itype.retired
    assert itype.price_per_hour > 0
    assert itype.vcpus >= 4 and itype.ram_gb >= 16


def test_current_generation_specs_are_plausible(catalog: Catalog) -> None:
    def spec(provider: str, name: str) -> tuple[int, str, int]:
        itype = catalog.get(provider, name)
        assert itype is not None
        return itype.gpu_count, itype.gpu_model, itype.gpu_memory_gb

    assert spec("AWS", "p5.48xlarge") == (8, "H100", 80)
    assert spec("AWS", "p4d.24xlarge") == (8, "A100", 40)
    assert spec("AWS", "g6e.xlarge") == (1, "L40S", 48)
    assert spec("AWS", "g6.12xlarge") == (4, "L4", 24)
    assert spec("AWS", "g5.xlarge") == (1, "A10G", 24)
    assert spec("AZURE", "Standard_ND96isr_H100_v5") == (8, "H100", 80)
    assert spec("AZURE", "Standard_NC96ads_A100_v4") == (4, "A100", 80)
    assert spec("AZURE", "Standard_NC64as_T4_v3") == (4, "T4", 16)


def test_a_gpu_slice_is_labelled_as_a_slice(catalog: Catalog) -> None:
    itype = catalog.get("AZURE", "Standard_NV6ads_A10_v5")
    assert itype is not None
    assert itype.gpu_label() == "1/6 A10"
    assert itype.gpu_memory_gb < 24


@pytest.mark.parametrize(
    ("provider", "family"),
    [
        ("AWS", ["g4dn.xlarge", "g4dn.2xlarge", "g4dn.12xlarge"]),
        ("AWS", ["g5.xlarge", "g5.2xlarge", "g5.12xlarge"]),
        ("AWS", ["g6.xlarge", "g6.12xlarge"]),
        ("AZURE", ["Standard_NC4as_T4_v3", "Standard_NC8as_T4_v3", "Standard_NC16as_T4_v3"]),
        ("AZURE", ["Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4"]),
    ],
)
def test_bigger_sizes_of_a_family_cost_more(
    catalog: Catalog, provider: str, family: list[str]
) -> None:
    prices = [catalog.get(provider, name).price_per_hour for name in family]  # type: ignore[union-attr]
    assert prices == sorted(prices) and len(set(prices)) == len(prices)


def test_multi_gpu_sizes_scale_linearly_within_the_a100_family(catalog: Catalog) -> None:
    one = catalog.get("AZURE", "Standard_NC24ads_A100_v4")
    four = catalog.get("AZURE", "Standard_NC96ads_A100_v4")
    assert one is not None and four is not None
    assert four.price_per_hour == one.price_per_hour * 4


def test_lookups_ignore_the_case_of_provider_and_name(catalog: Catalog) -> None:
    upper = catalog.get("AWS", "p3.2xlarge")
    assert upper is not None
    assert catalog.get("aws", "p3.2xlarge") is upper
    assert catalog.get(" Aws ", "P3.2XLARGE") is upper
    nc6 = catalog.get("azure", "standard_nc6")
    assert nc6 is not None and nc6.name == "Standard_NC6" and nc6.provider == "AZURE"


def test_get_does_not_cross_providers(catalog: Catalog) -> None:
    assert catalog.get("AWS", "Standard_NC6") is None
    assert catalog.get("AZURE", "g4dn.xlarge") is None
    assert catalog.get("AWS", "p9.nonexistent") is None
    assert catalog.get("GCP", "g4dn.xlarge") is None


def test_find_searches_every_provider(catalog: Catalog) -> None:
    found = catalog.find("standard_nc4as_t4_v3")
    assert found is not None and found.provider == "AZURE"
    found = catalog.find("g6.xlarge")
    assert found is not None and found.provider == "AWS"
    assert catalog.find("nope.large") is None


def test_for_provider(catalog: Catalog) -> None:
    aws = catalog.for_provider("aws")
    azure = catalog.for_provider("Azure")
    gcp = catalog.for_provider("gcp")
    assert aws and all(t.provider == "AWS" for t in aws)
    assert azure and all(t.provider == "AZURE" for t in azure)
    assert gcp and all(t.provider == "GCP" for t in gcp)
    assert len(aws) + len(azure) + len(gcp) == len(catalog.for_provider()) == len(catalog.types)
    with pytest.raises(ValueError, match="AWS, AZURE or GCP"):
        catalog.for_provider("oci")


def test_names_are_unique_per_provider_and_providers_known(catalog: Catalog) -> None:
    keys = [(t.provider, t.name.lower()) for t in catalog.types]
    assert len(keys) == len(set(keys))
    assert {t.provider for t in catalog.types} == set(PROVIDERS)


def test_every_type_has_realistic_regions(catalog: Catalog) -> None:
    for itype in catalog.types:
        assert 5 <= len(itype.regions) <= 15, itype.name
        assert all(r == r.lower() and " " not in r for r in itype.regions), itype.name
        if itype.provider == "AWS":
            assert all(r.count("-") == 2 and r[-1].isdigit() for r in itype.regions), itype.name
        elif itype.provider == "GCP":  # us-central1, europe-west4
            assert all(r.count("-") == 1 and r[-1].isdigit() for r in itype.regions), itype.name
        else:
            assert all("-" not in r for r in itype.regions), itype.name


def test_regions_is_the_sorted_union_per_provider(catalog: Catalog) -> None:
    aws = catalog.regions("AWS")
    assert aws == tuple(sorted(aws))
    assert set(aws) == {r for t in catalog.for_provider("AWS") for r in t.regions}
    assert "us-east-1" in aws and "eastus" not in aws
    azure = catalog.regions("azure")
    assert "eastus" in azure and "us-east-1" not in azure
    assert len(azure) == len(set(azure))


def test_list_prices_are_for_us_east_so_us_east_is_offered(catalog: Catalog) -> None:
    for itype in catalog.types:
        home = {"AWS": "us-east-1", "AZURE": "eastus", "GCP": "us-central1"}[itype.provider]
        assert home in itype.regions, itype.name


def test_cheapest_skips_retired_types(catalog: Catalog) -> None:
    aws = catalog.cheapest("aws")
    assert aws.name == "g4dn.xlarge" and aws.price_per_hour == Decimal("0.526")
    azure = catalog.cheapest("AZURE")
    assert not azure.retired
    offered = [t for t in catalog.for_provider("AZURE") if not t.retired]
    assert azure.price_per_hour == min(t.price_per_hour for t in offered)


def test_to_json_shape(catalog: Catalog) -> None:
    itype = catalog.get("AWS", "g4dn.xlarge")
    assert itype is not None
    data = itype.to_json()
    assert set(data) == {
        "provider", "instanceType", "gpu", "gpuCount", "gpuModel", "gpuMemoryGB", "vcpus",
        "ramGB", "costPerHour", "regions", "retired", "note", "zones", "spotPrices",
    }  # fmt: skip
    assert data["provider"] == "AWS"
    assert data["instanceType"] == "g4dn.xlarge"
    assert data["gpu"] == "1x T4"
    assert data["costPerHour"] == 0.526 and isinstance(data["costPerHour"], float)
    assert data["regions"] == list(itype.regions)
    assert data["retired"] is False
    json.dumps([t.to_json() for t in catalog.types])  # every entry serialises


def test_storage_prices_and_tiers(catalog: Catalog) -> None:
    assert catalog.storage_price_per_gb_month["AWS"] == Decimal("0.08")
    assert catalog.storage_price_per_gb_month["AZURE"] > 0
    assert catalog.disk_price_per_month("aws", 100) == Decimal("8.00")
    # Azure bills Premium SSD by tier: 100 GB is a P10 (128 GiB), 129 GB a P15.
    assert catalog.disk_price_per_month("AZURE", 100) == Decimal("19.71")
    assert catalog.disk_price_per_month("AZURE", 128) == Decimal("19.71")
    assert catalog.disk_price_per_month("AZURE", 129) > Decimal("19.71")
    assert catalog.disk_price_per_month("AZURE", 4096) > catalog.disk_price_per_month("AZURE", 30)
    with pytest.raises(ValueError, match="tier"):
        catalog.disk_price_per_month("AZURE", 100_000)


def test_billing_granularity_per_provider(catalog: Catalog) -> None:
    aws, azure = catalog.billing["AWS"], catalog.billing["AZURE"]
    assert (aws["granularitySeconds"], aws["minimumSeconds"]) == (1, 60)
    assert (azure["granularitySeconds"], azure["minimumSeconds"]) == (1, 0)  # by the second
    assert all(spec["source"].startswith("https://") for spec in (aws, azure))


def test_packaged_file_records_date_sources_and_provenance() -> None:
    text = resources.files("provisioner.rules").joinpath("data/catalog.json").read_text("utf-8")
    raw = json.loads(text)
    assert raw["pricesAsOf"][:2] == "20" and len(raw["pricesAsOf"]) == 10
    assert raw["sources"] and all(url.startswith("https://") for url in raw["sources"])
    assert all(entry.get("notes") for entry in raw["instanceTypes"])


def test_default_catalog_is_loaded_once(catalog: Catalog) -> None:
    assert load_catalog() is load_catalog() is catalog


# --- bad data files ----------------------------------------------------------------------------


def _minimal() -> dict[str, Any]:
    entry = {
        "provider": "AWS",
        "name": "g4dn.xlarge",
        "gpuCount": 1,
        "gpuModel": "T4",
        "gpuMemoryGB": 16,
        "vcpus": 4,
        "ramGB": 16,
        "pricePerHour": 0.526,
        "regions": ["us-east-1"],
        "retired": False,
        "note": None,
    }
    return {
        "pricesAsOf": "2026-11-26",
        "billing": {"AWS": {"granularitySeconds": 1, "minimumSeconds": 60, "rounding": "up"}},
        "storage": {"AWS": {"pricePerGBMonth": 0.08}},
        "instanceTypes": [entry],
    }


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_minimal_file_loads(tmp_path: Path) -> None:
    loaded = load_catalog(_write(tmp_path, _minimal()))
    assert [t.name for t in loaded.types] == ["g4dn.xlarge"]
    assert loaded.types[0].price_per_hour == Decimal("0.526")
    assert loaded is not load_catalog()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pricePerHour", -1, "pricePerHour must be positive"),
        ("pricePerHour", 0, "pricePerHour must be positive"),
        ("pricePerHour", "0.5", "pricePerHour must be a number"),
        ("regions", [], "regions must be a non-empty list"),
        ("regions", ["us-east-1", "us-east-1"], "twice"),
        ("provider", "OCI", "provider must be one of"),
        ("gpuCount", 0, "gpuCount must be a positive integer"),
        ("vcpus", True, "vcpus must be a positive integer"),
        ("retired", "no", "retired must be true or false"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_entry(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    data = _minimal()
    data["instanceTypes"][0][field] = value
    with pytest.raises(ValueError, match=message) as caught:
        load_catalog(_write(tmp_path, data))
    assert "g4dn.xlarge" in str(caught.value)


def test_a_duplicate_name_is_refused(tmp_path: Path) -> None:
    data = _minimal()
    twin = copy.deepcopy(data["instanceTypes"][0])
    twin["name"] = "G4DN.XLARGE"
    data["instanceTypes"].append(twin)
    with pytest.raises(ValueError, match=r"AWS/G4DN\.XLARGE: duplicate"):
        load_catalog(_write(tmp_path, data))


def test_the_same_name_in_two_providers_is_allowed(tmp_path: Path) -> None:
    data = _minimal()
    other = copy.deepcopy(data["instanceTypes"][0])
    other["provider"] = "AZURE"
    other["regions"] = ["eastus"]
    data["instanceTypes"].append(other)
    data["billing"]["AZURE"] = {"granularitySeconds": 60, "minimumSeconds": 0, "rounding": "down"}
    data["storage"]["AZURE"] = {"pricePerGBMonth": 0.15}
    assert len(load_catalog(_write(tmp_path, data)).types) == 2


def test_an_entry_without_a_name_is_named_by_position(tmp_path: Path) -> None:
    data = _minimal()
    del data["instanceTypes"][0]["name"]
    with pytest.raises(ValueError, match="entry #0"):
        load_catalog(_write(tmp_path, data))


def test_missing_billing_or_storage_for_a_provider_is_refused(tmp_path: Path) -> None:
    data = _minimal()
    del data["billing"]["AWS"]
    with pytest.raises(ValueError, match=r"billing\.AWS"):
        load_catalog(_write(tmp_path, data))
    data = _minimal()
    data["storage"]["AWS"]["pricePerGBMonth"] = -0.08
    with pytest.raises(ValueError, match=r"storage\.AWS"):
        load_catalog(_write(tmp_path, data))


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_catalog(path)


def test_gcp_types_have_zones_and_spot_prices_per_region(catalog: Catalog) -> None:
    gcp = catalog.for_provider("GCP")
    assert {"g2-standard-4", "a2-highgpu-1g", "a3-highgpu-8g"} <= {t.name for t in gcp}
    assert any("+" in t.name for t in gcp)  # N1 + guest accelerators
    for itype in gcp:
        for region in itype.regions:
            zones = itype.zones_in(region)
            assert zones and all(z.startswith(f"{region}-") for z in zones), itype.name
            assert list(zones) == sorted(zones), itype.name  # the stated order
            spot = itype.spot_price_in(region)
            assert spot is not None and 0 < spot < itype.price_in(region), itype.name
    assert catalog.billing["GCP"]["granularitySeconds"] == 1
    assert catalog.billing["GCP"]["minimumSeconds"] == 60
    assert catalog.storage_price_per_gb_month["GCP"] == Decimal("0.10")


def test_zones_must_belong_to_a_listed_region(tmp_path: Path) -> None:
    data = _minimal()
    data["instanceTypes"][0]["zones"] = {"us-east-1": ["eu-west-1a"]}
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"zones\.us-east-1 must be a non-empty list"):
        load_catalog(path)


def test_every_provider_keeps_zones_and_prices_per_type_and_region(catalog: Catalog) -> None:
    """#21: one shape. An AWS type's zones are its own, like a GCP type's; there is no
    per-provider zone table and no per-provider spot table beside the types."""
    raw = json.loads(packaged_catalog_text())
    assert "zones" not in raw and "prices" not in raw["spotPrices"]
    g5 = catalog.get("AWS", "g5.xlarge")
    n1 = catalog.get("GCP", "n1-standard-4+t4")
    assert g5 is not None and n1 is not None
    for itype, region in ((g5, "us-east-1"), (n1, "us-central1")):
        offer = itype.in_region(region)
        assert offer is not None and offer.zones and offer.price and offer.spot
        assert all(z.startswith(region) for z in offer.zones)
        assert itype.has_own_price(region)
    assert catalog.zones_of("AWS", "us-east-1") == g5.zones_in("us-east-1")
    # A type with a spot price in one region only: the other regions use it, as an estimate.
    p5 = catalog.get("AWS", "p5.48xlarge")
    assert p5 is not None and p5.spot_price_in("us-west-2") is None
    assert catalog.spot_price(p5, "us-west-2") == p5.spot_price_in("us-east-1")


def test_a_catalog_in_the_old_two_table_shape_still_loads_into_the_one_shape(
    tmp_path: Path,
) -> None:
    """A `catalog refresh` of an earlier version left top-level zone and seed-spot tables in
    the data dir's catalog: they are folded into the types; a type's own figures win."""
    data = _minimal()
    data["instanceTypes"][0]["regions"] = ["us-east-1", "us-west-2"]
    data["instanceTypes"][0]["spotPrices"] = {"us-west-2": 0.19}
    data["zones"] = {"AWS": {"us-east-1": ["us-east-1a", "us-east-1b"], "eu-west-1": ["x"]}}
    data["spotPrices"] = {
        "asOf": "2026-11-26",
        "prices": {"AWS": {"g4dn.xlarge": {"us-east-1": 0.22, "us-west-2": 0.5}}},
    }
    (itype,) = load_catalog(_write(tmp_path, data)).types
    assert itype.zones_in("us-east-1") == ("us-east-1a", "us-east-1b")
    assert itype.zones_in("us-west-2") == ()
    assert itype.spot_price_in("us-east-1") == Decimal("0.22")
    assert itype.spot_price_in("us-west-2") == Decimal("0.19")
