"""The #12 "done when" runs as a user types them: real subprocesses, the simulated engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from provisioner.cli.main import app


def run(home: Path, *args: str, **knobs: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVISIONER_HOME": str(home)}
    env.update({f"PROVISIONER_{k.upper()}": v for k, v in knobs.items()})
    return subprocess.run(
        [sys.executable, "-m", "provisioner.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def stacks(home: Path) -> dict[str, int]:
    root = home / "simulated-stacks"
    return {
        p.stem: len(json.loads(p.read_text())["resources"]) for p in sorted(root.glob("*.json"))
    }


def test_up_fails_over_to_the_next_region_with_default_options(home):
    """#24's case: us-east-1 has no g5.xlarge anywhere; two zones there, then us-west-2."""
    done = run(
        home,
        "up", "--simulate", "--provider", "aws", "--instance-type", "g5.xlarge",
        "--regions", "us-east-1,us-west-2", "--json",
        sim_capacity="aws/us-east-1/*/g5.xlarge=none",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    instance = json.loads(done.stdout)["instance"]
    assert (instance["region"], instance["zone"], instance["status"]) == (
        "us-west-2", "us-west-2a", "READY",
    )  # fmt: skip
    codes = [a["providerCode"] for a in instance["attempts"] if a["outcome"] == "failed"]
    assert codes == ["InsufficientInstanceCapacity"] * 2
    shown = run(home, "events", instance["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    failed = [
        e for e in json.loads(shown.stdout)["events"] if e["type"] == "instance:attempt-failed"
    ]
    assert len(failed) == 2
    assert all("InsufficientInstanceCapacity" in e["detail"] for e in failed)
    held = stacks(home)
    assert held[instance["id"]] == 0 and held[f"{instance['id']}-a2"] == 0
    assert held[f"{instance['id']}-a3"] > 0


def test_every_candidate_refused_exits_1_naming_the_quota(home):
    done = run(
        home,
        "up", "--simulate", "--provider", "aws", "--instance-type", "g5.xlarge",
        "--regions", "us-east-2", "--json",
        sim_capacity="aws/*/*/*=quota",
    )  # fmt: skip
    assert done.returncode == 1
    error = json.loads(done.stdout or done.stderr)["error"]
    assert "all 3 attempts failed" in error["message"]
    assert "request a quota increase: Running On-Demand G and VT instances" in error["message"]
    assert set(stacks(home).values()) == {0}


def test_offers_t4_lists_both_clouds_cheapest_first(home):
    result = CliRunner().invoke(app, ["offers", "--gpu", "T4:1", "--json"])
    assert result.exit_code == 0, result.output
    offers = json.loads(result.output)["offers"]
    names = {(o["provider"], o["instanceType"]) for o in offers}
    assert {("AWS", "g4dn.xlarge"), ("AZURE", "Standard_NC4as_T4_v3")} <= names
    prices = [o["costPerHour"] for o in offers]
    assert prices == sorted(prices)
    assert all(o["gpuCount"] == 1 and o["gpuModel"] == "T4" for o in offers)


def test_offers_spot_orders_by_spot_price_and_excludes_retired(home):
    result = CliRunner().invoke(app, ["offers", "--gpu", "K80", "--json"])
    assert json.loads(result.output)["count"] == 0, "K80 types are retired"
    spot = json.loads(
        CliRunner().invoke(app, ["offers", "--gpu", "A100", "--spot", "--json"]).output
    )
    prices = [o["spotCostPerHour"] for o in spot["offers"]]
    assert prices and prices == sorted(prices)
    assert spot["spotPricesAsOf"]


def test_bad_gpu_spec_is_exit_2_naming_the_field(home):
    result = CliRunner().invoke(app, ["offers", "--gpu", "T4:zero"])
    assert result.exit_code == 2
    assert "GPU must be MODEL or MODEL:COUNT" in result.output


def test_up_any_with_gpu_takes_the_cheapest(home):
    done = run(home, "up", "--simulate", "--provider", "any", "--gpu", "T4:1", "--json")
    assert done.returncode == 0, done.stderr
    instance = json.loads(done.stdout)["instance"]
    assert (instance["provider"], instance["instanceType"]) == ("AWS", "g4dn.xlarge")


def test_up_any_gpu_reaches_another_cloud_when_aws_refuses_with_default_options(home):
    done = run(
        home,
        "up", "--simulate", "--provider", "any", "--gpu", "T4:1", "--json",
        sim_capacity="aws/*/*/*=none",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    instance = json.loads(done.stdout)["instance"]
    assert instance["provider"] in ("AZURE", "GCP")
    assert [a["candidate"]["provider"] for a in instance["attempts"]][:2] == ["AWS", "AWS"]


def test_offers_t4_rank_by_each_regions_own_price_and_mark_estimates(home):
    """#24: per-region list prices from the catalog snapshot, not us-east-1's copied."""
    report = json.loads(CliRunner().invoke(app, ["offers", "--gpu", "T4:1", "--json"]).output)
    g4dn = {o["region"]: o for o in report["offers"] if o["instanceType"] == "g4dn.xlarge"}
    assert g4dn["us-east-1"]["costPerHour"] == 0.526
    assert g4dn["eu-west-1"]["costPerHour"] > g4dn["us-east-1"]["costPerHour"]
    assert not g4dn["eu-west-1"]["priceEstimated"]
    assert len({o["costPerHour"] for o in g4dn.values()}) > 3, "regions differ"
    prices = [o["costPerHour"] for o in report["offers"]]
    assert prices == sorted(prices)
    cheapest = report["offers"][0]
    shown = CliRunner().invoke(app, ["offers", "--gpu", "T4:1", "--limit", "200"])
    assert shown.exit_code == 0 and "estimate" in shown.output  # a region without its own
    up = run(home, "up", "--simulate", "--provider", "any", "--gpu", "T4:1", "--json")
    assert up.returncode == 0, up.stderr
    instance = json.loads(up.stdout)["instance"]
    assert (instance["provider"], instance["region"], instance["costPerHour"]) == (
        cheapest["provider"], cheapest["region"], cheapest["costPerHour"],
    )  # fmt: skip


def test_gcp_t4_offers_rank_regions_by_their_own_prices_and_gpu_up_takes_the_cheaper(home):
    """#24 for GCP: per-region prices from the catalog snapshot (machine type + GPU), so two
    regions differ, offers rank them and `--gpu` up lands in the cheaper one."""
    report = json.loads(
        CliRunner().invoke(app, ["offers", "--gpu", "T4:1", "--provider", "gcp", "--json"]).output
    )
    n1 = {o["region"]: o for o in report["offers"] if o["instanceType"] == "n1-standard-4+t4"}
    assert not any(o["priceEstimated"] for o in n1.values())
    europe, asia = n1["europe-west4"]["costPerHour"], n1["asia-southeast1"]["costPerHour"]
    assert n1["us-central1"]["costPerHour"] < europe < asia
    prices = [o["costPerHour"] for o in report["offers"]]
    assert prices == sorted(prices)
    # The dearer region named first: the cheaper one still wins.
    up = run(
        home,
        "up", "--simulate", "--provider", "gcp", "--gpu", "T4:1",
        "--regions", "asia-southeast1,europe-west4", "--json",
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    instance = json.loads(up.stdout)["instance"]
    assert (instance["instanceType"], instance["region"]) == ("n1-standard-4+t4", "europe-west4")
    assert instance["costPerHour"] == europe
