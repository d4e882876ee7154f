"""One definition of what a live instance has cost so far: billed so far, per the provider's
billing rule (AWS: per second with a 60-second minimum; Azure: per second, no minimum), the same in
`show`/`list` (Python), `stats`, `cost-report` and budgets (SQL), on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from factories import azure_request, make_request

from provisioner.rules.billing import SECONDS_PER_MONTH


def _expected(instance, billed_seconds: int) -> float:
    compute = Decimal(str(instance.cost_per_hour)) * billed_seconds / 3600
    storage = (
        Decimal(str(instance.storage_price_gb_month or 0))
        * instance.disk_size_gb
        * billed_seconds
        / SECONDS_PER_MONTH
    )
    ipv4 = Decimal(str(instance.public_ip_price_per_hour or 0)) * billed_seconds / 3600  # #24
    return float(compute + storage + ipv4)


def test_every_view_agrees_on_a_live_instances_cost(service, clock, database):
    aws = service.ledger.require(service.provision(make_request(task_id="aws")).id)
    azure = service.ledger.require(service.provision(azure_request(task_id="azure")).id)
    clock.advance(seconds=30)  # AWS bills its 60-second minimum; Azure its 30 seconds

    shown = {i.id: i.total_cost for i in service.list()}
    assert shown[aws.id] == pytest.approx(_expected(aws, 60), abs=2e-6)
    assert shown[azure.id] == pytest.approx(_expected(azure, 30), abs=2e-6)
    assert shown[azure.id] > 0, "a READY Azure VM is billed from its first second"
    assert service.get(aws.id).total_cost == shown[aws.id]

    stats = service.statistics()
    report = service.cost_report(days=1)
    assert stats.total_cost == pytest.approx(sum(shown.values()), abs=2e-6)
    assert report["total"]["total"] == pytest.approx(sum(shown.values()), abs=2e-6)

    clock.advance(seconds=65)  # 95 s: both per second
    shown = {i.id: i.total_cost for i in service.list()}
    assert shown[aws.id] == pytest.approx(_expected(aws, 95), abs=2e-6)
    assert shown[azure.id] == pytest.approx(_expected(azure, 95), abs=2e-6)
    assert service.statistics().total_cost == pytest.approx(sum(shown.values()), abs=2e-6)
    assert service.cost_report(days=1)["total"]["total"] == pytest.approx(
        sum(shown.values()), abs=2e-6
    )
