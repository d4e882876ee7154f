"""The failover order (#24): a fair share per region per round, round-robin across regions and
providers, the cheapest candidate first."""

from __future__ import annotations

from decimal import Decimal

from provisioner.capacity.candidates import Candidate
from provisioner.capacity.order import failover_order


def zones(provider: str, region: str, count: int, price: str = "1.0") -> list[Candidate]:
    return [
        Candidate(provider, region, "t", f"{region}{chr(97 + i)}", False, Decimal(price))
        for i in range(count)
    ]


def test_three_regions_of_six_zones_each_get_two_per_round():
    order = failover_order(zones("AWS", "r1", 6) + zones("AWS", "r2", 6) + zones("AWS", "r3", 6))
    assert {c.region for c in order[:6]} == {"r1", "r2", "r3"}, "the default budget of 6"
    assert [c.zone for c in order[:8]] == ["r1a", "r1b", "r2a", "r2b", "r3a", "r3b", "r1c", "r1d"]
    assert len(order) == 18 and len(set(order)) == 18, "every candidate, once"


def test_providers_take_turns_and_the_cheapest_comes_first():
    aws = zones("AWS", "us-east-1", 6, "0.50") + zones("AWS", "us-west-2", 4, "0.50")
    azure = zones("AZURE", "eastus", 1, "0.55")
    gcp = zones("GCP", "us-central1", 4, "0.52")
    order = failover_order(aws + gcp + azure)
    assert [(c.provider, c.region) for c in order[:6]] == [
        ("AWS", "us-east-1"), ("AWS", "us-east-1"),
        ("GCP", "us-central1"), ("GCP", "us-central1"),
        ("AZURE", "eastus"),
        ("AWS", "us-west-2"),
    ]  # fmt: skip


def test_a_cheaper_region_goes_first_and_types_keep_price_order_inside_a_region():
    dear = zones("AWS", "r1", 2, "2.0")
    cheap = zones("AWS", "r2", 2, "1.0")
    order = failover_order(dear + cheap)
    assert [c.region for c in order] == ["r2", "r2", "r1", "r1"]
