"""#24 on the dashboard: a request whose every attempt was refused (no VM ever existed) shows
$0.0000 on its page, in the fleet, on the costs page and in the budget, on every cloud; a VM that
landed shows what it costs. The real app over a real ledger (SQLite and PostgreSQL), the
simulated engine, a fake clock (TestClient, no browser)."""

from __future__ import annotations

import re

import pytest
from apiclient import build_api
from factories import azure_request, make_request

from provisioner.config import Settings
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import ProvisioningFailedError

REQUESTS = {
    "aws": make_request(),
    "azure": azure_request(),
    "gcp": make_request(provider="GCP", instance_type="g2-standard-4", region="us-central1"),
}


def _text(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found, f"no #{element_id} in the page"
    return found.group(1).strip()


@pytest.mark.parametrize("cloud", sorted(REQUESTS))
def test_a_request_refused_everywhere_costs_nothing_on_the_dashboard(home, clock, cloud):
    settings = Settings(home=home, engine="simulated", sim_capacity=f"{cloud}/*/*/*=none")
    service = Provisioner(settings, clock=clock)
    service.set_budget("user-123", daily_usd="1", monthly_usd="20")
    with pytest.raises(ProvisioningFailedError):
        service.provision(REQUESTS[cloud])
    clock.advance(minutes=10)  # long past any per-attempt minimum
    (failed,) = service.list()
    assert failed.status == "FAILED" and failed.attempts

    for api in build_api(service):
        client = api.client
        token, _ = api.app.state.api.tokens.create("user-123")
        assert client.post("/signin", data={"token": token}).status_code == 200

        page = client.get(f"/instances/{failed.id}").text
        assert _text(page, "total-cost") == "$0.0000"
        assert _text(page, "cost-compute") == "$0.0000"
        assert _text(page, "cost-storage") == "$0.0000"

        fleet = client.get("/", params={"status": "FAILED"}).text
        assert failed.id in fleet
        assert '<td data-label="Cost" class="num">$0.0000</td>' in fleet

        costs = client.get("/costs").text
        assert _text(costs, "cost-total") == "$0.0000"
        assert "1 instance)" in costs  # counted, at no cost
        assert '<td data-label="Today">$0.0000 of $1.00' in costs
        assert '<td data-label="This month">$0.0000 of $20.00' in costs
    service.ledger.dispose()


def test_a_landed_vm_costs_what_it_ran_on_the_same_pages(home, clock):
    """The control: the same pages show a non-zero cost once a VM existed."""
    service = Provisioner(Settings(home=home, engine="simulated"), clock=clock)
    service.set_budget("user-123", daily_usd="1")
    out = service.provision(make_request())
    clock.advance(minutes=30)
    done = service.terminate(out.id)
    for api in build_api(service):
        token, _ = api.app.state.api.tokens.create("user-123")
        api.client.post("/signin", data={"token": token})
        page = api.client.get(f"/instances/{out.id}").text
        assert _text(page, "total-cost") == f"${done.total_cost:,.4f}" != "$0.0000"
        assert _text(page, "cost-ipv4") == "$0.0025"  # its public IPv4 address, 30 min
        assert "public IPv4 $0.0050 / hour" in page
        costs = api.client.get("/costs").text
        assert _text(costs, "cost-total") == f"${done.total_cost:,.4f}"
    service.ledger.dispose()
