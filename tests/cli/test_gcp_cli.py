"""GCP through the CLI as a user drives it: CliRunner, the simulated engine, real SQLite."""

import ipaddress
import json
from decimal import Decimal

from typer.testing import CliRunner

import stacks.spec
from provisioner.cli.main import app
from provisioner.rules.catalog import load_catalog

runner = CliRunner()
UP = [
    "up",
    "--simulate",
    "--provider",
    "gcp",
    "--instance-type",
    "g2-standard-4",
    "--region",
    "us-central1",
    "--user",
    "user-123",
    "--task",
    "gcp-task",
    "--json",
]


def run(*args: str) -> tuple[int, dict, str]:
    result = runner.invoke(app, list(args))
    body = json.loads(result.stdout) if "--json" in args and result.stdout.strip() else {}
    return result.exit_code, body, result.stdout + result.stderr


def test_gcp_up_list_show_stats_down_round_trip(home):
    code, body, output = run(*UP)
    assert code == 0, output
    instance = body["instance"]
    assert instance["status"] == "READY"
    assert instance["provider"] == "GCP"
    assert instance["engine"] == "simulated"
    price = load_catalog().get("GCP", "g2-standard-4").price_in("us-central1")
    assert Decimal(str(instance["costPerHour"])) == price
    assert ipaddress.ip_address(instance["publicIp"]) in ipaddress.ip_network("203.0.113.0/24")
    metadata = instance["metadata"]
    assert metadata["project"] == "provisioner-simulated"
    assert metadata["zone"].startswith("us-central1-")
    assert metadata["machineType"] == "g2-standard-4"
    assert instance["cloudInstanceId"] == (
        f"projects/provisioner-simulated/zones/{metadata['zone']}/instances/"
        f"provisioner-{instance['id']}"
    )

    code, listed, _ = run("list", "--user", "user-123", "--json")
    assert [i["id"] for i in listed["instances"]] == [instance["id"]]
    code, shown, _ = run("show", instance["id"], "--json")
    assert shown["instance"]["metadata"] == metadata

    code, stats, _ = run("stats", "--json")
    assert stats["statistics"]["providerBreakdown"] == {"GCP": 1}
    assert stats["statistics"]["instanceTypeBreakdown"] == {"g2-standard-4": 1}

    code, down, _ = run("down", instance["id"], "--json")
    assert code == 0
    assert down["instance"]["status"] == "TERMINATED"
    assert down["instance"]["totalCost"] > 0  # at least GCP's one-minute minimum
    assert down["instance"]["costBreakdown"]["compute"] >= round(float(price) / 60, 2)


def test_gcp_is_the_default_region_us_central1_and_n1_types_use_the_catalogs_zones(home):
    code, body, output = run(
        "up", "--simulate", "--provider", "GCP", "--instance-type", "n1-standard-4+t4", "--json"
    )
    assert code == 0, output
    instance = body["instance"]
    assert instance["region"] == "us-central1"
    assert instance["metadata"]["zone"] == "us-central1-a"  # the catalog's first T4 zone
    assert instance["metadata"]["guestAccelerator"] == "nvidia-tesla-t4"


def test_gcp_bad_region_and_foreign_type_exit_2(home):
    result = runner.invoke(app, [*UP[:-1], "--region", "eastus"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: Region 'eastus' is not offered for g2-standard-4")
    result = runner.invoke(
        app, ["up", "--simulate", "--provider", "gcp", "--instance-type", "g4dn.xlarge"]
    )
    assert result.exit_code == 2
    assert "is an AWS type, not offered on GCP" in result.stderr
    assert run("list", "--json")[1]["count"] == 0


def test_a_missing_gcp_sdk_names_the_extra_and_records_nothing(home, monkeypatch):
    real = stacks.spec.importlib.util.find_spec
    monkeypatch.setattr(
        stacks.spec.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pulumi_gcp" else real(name, *a),
    )
    result = runner.invoke(app, UP[:-1])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "pip install 'provisioner[gcp]'" in lines[0]
    assert run("list", "--json")[1]["count"] == 0


def test_gcp_capacity_failure_is_classified(home, monkeypatch):
    monkeypatch.setenv("PROVISIONER_SIM_FAIL_UP", "1")
    monkeypatch.setenv("PROVISIONER_SIM_FAIL_KIND", "capacity")
    result = runner.invoke(app, UP[:-1])
    assert result.exit_code == 1
    monkeypatch.delenv("PROVISIONER_SIM_FAIL_UP")
    [failed] = run("list", "--json")[1]["instances"]
    assert failed["status"] == "FAILED"
    assert failed["errorCode"] == "ZONE_RESOURCE_POOL_EXHAUSTED"


def test_types_lists_gcp_with_zones_and_spot_prices(home):
    code, body, _ = run("types", "--provider", "gcp", "--json")
    assert code == 0
    names = {t["instanceType"] for t in body["instanceTypes"]}
    assert {"g2-standard-4", "a2-highgpu-1g", "a3-highgpu-8g", "n1-standard-4+t4"} <= names
    g2 = next(t for t in body["instanceTypes"] if t["instanceType"] == "g2-standard-4")
    assert "us-central1" in g2["zones"] and "us-central1" in g2["spotPrices"]
    assert g2["spotPrices"]["us-central1"] < g2["costPerHour"]
