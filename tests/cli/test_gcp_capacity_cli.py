"""GCP in #12's capacity features (#14 point 5): failover across the zones that offer the
accelerator, spot at the catalog's spot price, GCP in offers. Real subprocesses, simulated
engine."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.rules.catalog import load_catalog
from tests.cli.test_capacity_cli import run, stacks


def test_a_full_gcp_zone_fails_over_to_the_next_zone_offering_the_gpu(home):
    done = run(
        home,
        "up", "--simulate", "--provider", "gcp", "--instance-type", "g2-standard-4",
        "--region", "us-central1", "--json",
        sim_capacity="gcp/us-central1/us-central1-a/g2-standard-4=none",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    instance = json.loads(done.stdout)["instance"]
    assert (instance["status"], instance["zone"]) == ("READY", "us-central1-b")
    assert instance["metadata"]["zone"] == "us-central1-b"
    failed = [a for a in instance["attempts"] if a["outcome"] == "failed"]
    assert [(a["candidate"]["zone"], a["providerCode"]) for a in failed] == [
        ("us-central1-a", "ZONE_RESOURCE_POOL_EXHAUSTED")
    ]
    held = stacks(home)
    assert held[instance["id"]] == 0, "the refused zone's attempt leaves nothing behind"
    assert held[f"{instance['id']}-a2"] > 0


def test_gcp_quota_is_not_retried_zone_after_zone(home):
    done = run(
        home,
        "up", "--simulate", "--provider", "gcp", "--instance-type", "g2-standard-4",
        "--region", "us-central1", "--json",
        sim_capacity="gcp/*/*/*=quota",
    )  # fmt: skip
    assert done.returncode == 1
    error = json.loads(done.stdout or done.stderr)["error"]
    assert "GPUS_ALL_REGIONS" in error["message"]
    assert set(stacks(home).values()) == {0}


def test_gcp_spot_is_billed_at_the_catalogs_spot_price(home):
    done = run(
        home,
        "up", "--simulate", "--provider", "gcp", "--instance-type", "g2-standard-4",
        "--region", "us-central1", "--spot", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    instance = json.loads(done.stdout)["instance"]
    assert instance["spot"] is True
    g2 = load_catalog().get("GCP", "g2-standard-4")
    assert g2 is not None
    spot_price = g2.spot_price_in("us-central1")
    assert spot_price is not None
    assert instance["costPerHour"] == float(spot_price)
    assert instance["costPerHour"] < float(g2.price_in("us-central1"))


def test_offers_for_l4_include_gcp_and_stay_cheapest_first(home):
    result = CliRunner().invoke(app, ["offers", "--gpu", "L4", "--json"])
    assert result.exit_code == 0, result.output
    offers = json.loads(result.output)["offers"]
    assert ("GCP", "g2-standard-4") in {(o["provider"], o["instanceType"]) for o in offers}
    prices = [o["costPerHour"] for o in offers]
    assert prices == sorted(prices)
