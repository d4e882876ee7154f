"""Billing from the cloud's acceptance of the VM (#24): an attempt refused before a VM existed
costs nothing, an instance that never had a VM costs $0 in show, stats, the rollups and the
budget, on every cloud. Real ledger (SQLite and PostgreSQL), the simulated engine, a fake clock."""

from __future__ import annotations

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


@pytest.mark.parametrize("cloud", sorted(REQUESTS))
def test_an_instance_whose_every_attempt_was_refused_costs_nothing(home, clock, cloud):
    service = Provisioner(
        Settings(home=home, engine="simulated", sim_capacity=f"{cloud}/*/*/*=none"), clock=clock
    )
    start = clock.now
    with pytest.raises(ProvisioningFailedError):
        service.provision(REQUESTS[cloud])
    clock.advance(minutes=10)

    (failed,) = service.list()
    assert failed.status == "FAILED" and len(failed.attempts) >= 1
    assert failed.total_cost == 0
    assert failed.cost_breakdown.compute == 0 and failed.cost_breakdown.storage == 0
    assert failed.cost_breakdown.public_ipv4 == 0
    stats = service.statistics()
    assert stats.total_cost == 0 and stats.total_provisioned == 1
    spent = user_spend(
        service.ledger,
        failed.user_id,
        now=clock.now,
        since=start - timedelta(days=1),
        until=clock.now + timedelta(days=1),
    )
    assert spent == Decimal(0)
    shown = CliRunner().invoke(app, ["show", failed.id])
    assert shown.exit_code == 0, shown.output
    assert "$0.0000" in shown.output
    service.ledger.dispose()


def test_a_landed_instance_bills_from_the_vm_not_from_admission(home, clock):
    service = Provisioner(Settings(home=home, engine="simulated"), clock=clock)
    out = service.provision(make_request())
    assert service.get(out.id).total_cost == 0 or out.total_cost < 0.01
    row = service.ledger.require(out.id)
    assert row.billed_from is not None and row.billed_from >= row.created_at
    clock.advance(minutes=30)
    done = service.terminate(out.id)
    assert done.cost_breakdown.compute == pytest.approx(0.263, abs=0.001)
    service.ledger.dispose()
