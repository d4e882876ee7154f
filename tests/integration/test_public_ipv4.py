"""The VM's public IPv4 address bills by the hour on every cloud (#24): in the price `show`
prints, in the accrued and the frozen cost, in statistics and budgets' spend, and nowhere when
no VM (so no address) ever existed. Real ledger (SQLite and PostgreSQL), the simulated engine,
a fake clock."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from factories import azure_request, make_request
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.config import Settings
from provisioner.ledger.spend import user_spend
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import ProvisioningFailedError

REQUESTS = {
    "aws": make_request(),
    "azure": azure_request(),
    "gcp": make_request(provider="GCP", instance_type="g2-standard-4", region="us-central1"),
}
# $/hour of the address, each cloud's list price (docs/cost.md names the pages).
IPV4_PER_HOUR = {"aws": Decimal("0.005"), "azure": Decimal("0.005"), "gcp": Decimal("0.005")}


def _d(value: float) -> Decimal:
    return Decimal(str(value))


@pytest.mark.parametrize("cloud", sorted(REQUESTS))
def test_an_instance_pays_for_its_public_ipv4_and_show_lists_it(home, clock, cloud):
    service = Provisioner(Settings(home=home, engine="simulated"), clock=clock)
    out = service.provision(REQUESTS[cloud])
    assert out.public_ip, "every stack gives its VM a public address"
    assert _d(out.public_ipv4_per_hour) == IPV4_PER_HOUR[cloud]

    clock.advance(minutes=90)
    live = service.get(out.id)
    assert live.cost_breakdown.public_ipv4 > 0  # accrues while it lives
    done = service.terminate(out.id)

    row = service.ledger.require(out.id)
    seconds = int((row.terminated_at - row.billed_from).total_seconds())
    expected = (IPV4_PER_HOUR[cloud] * seconds / 3600).quantize(Decimal("0.000001"))
    assert _d(done.cost_breakdown.public_ipv4) == expected == row.public_ip_cost
    parts = done.cost_breakdown
    assert _d(done.total_cost) == _d(parts.compute) + _d(parts.storage) + _d(parts.public_ipv4)
    assert done.to_json()["costBreakdown"]["publicIpv4"] == float(expected)

    # Statistics and budgets' spend count it (with compute in fleet sums).
    stats = service.statistics()
    assert _d(stats.total_cost) == _d(done.total_cost)
    spent = user_spend(
        service.ledger,
        done.user_id,
        now=clock.now,
        since=clock.now - timedelta(days=1),
        until=clock.now + timedelta(days=1),
    )
    assert spent == _d(done.total_cost)

    shown = CliRunner().invoke(app, ["show", out.id])
    assert shown.exit_code == 0, shown.output
    assert f"public IPv4 ${IPV4_PER_HOUR[cloud]}/hour" in shown.output
    assert "+ public IPv4 $0.00" in shown.output  # its share of the cost so far
    as_json = json.loads(CliRunner().invoke(app, ["show", out.id, "--json"]).output)
    assert as_json["instance"]["publicIpv4PerHour"] == float(IPV4_PER_HOUR[cloud])
    service.ledger.dispose()


def test_a_live_instance_costs_its_address_in_show_and_in_statistics_alike(home, clock):
    """The SQL that costs live rows (statistics, budgets) adds the address like `show` does."""
    service = Provisioner(Settings(home=home, engine="simulated"), clock=clock)
    out = service.provision(azure_request())
    clock.advance(hours=2)
    live = service.get(out.id)
    assert live.status == "READY" and live.cost_breakdown.public_ipv4 == pytest.approx(
        0.01, abs=2e-5
    )
    stats = service.statistics()
    assert stats.total_cost == pytest.approx(live.total_cost, abs=2e-6)
    service.ledger.dispose()


def test_a_gcp_spot_vm_pays_the_spot_rate_for_its_address(home, clock):
    service = Provisioner(Settings(home=home, engine="simulated"), clock=clock)
    out = service.provision(
        make_request(provider="GCP", instance_type="g2-standard-4", region="us-central1", spot=True)
    )
    assert out.spot and out.public_ipv4_per_hour == 0.0025
    clock.advance(hours=2)
    done = service.terminate(out.id)
    assert done.cost_breakdown.public_ipv4 == pytest.approx(0.005, abs=2e-6)
    shown = CliRunner().invoke(app, ["show", out.id])
    assert "public IPv4 $0.0025/hour" in shown.output
    service.ledger.dispose()


@pytest.mark.parametrize("cloud", sorted(REQUESTS))
def test_no_vm_no_address_no_charge(home, clock, cloud):
    service = Provisioner(
        Settings(home=home, engine="simulated", sim_capacity=f"{cloud}/*/*/*=none"), clock=clock
    )
    with pytest.raises(ProvisioningFailedError):  # every attempt refused
        service.provision(REQUESTS[cloud])
    clock.advance(hours=1)
    (failed,) = service.list()
    assert failed.status == "FAILED" and failed.public_ip is None
    assert failed.cost_breakdown.public_ipv4 == 0 and failed.total_cost == 0
    service.ledger.dispose()
