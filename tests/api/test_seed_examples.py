"""The seed's two usage examples through the REST API, as its documentation shows them."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from apiclient import SEED_AWS_BODY, SEED_AZURE_BODY, Api, settled

SEED_RESPONSE_FIELDS = {
    "id",
    "provider",
    "instanceType",
    "status",
    "publicIp",
    "privateIp",
    "region",
    "costPerHour",
    "totalCost",
    "createdAt",
    "metadata",
    "terminatedAt",
}


def check_ready(instance: dict[str, Any], body: dict[str, Any], price: float) -> None:
    config = body["config"]
    assert set(instance) >= SEED_RESPONSE_FIELDS
    assert instance["id"].startswith("inst-")
    assert instance["status"] == "READY"
    assert instance["provider"] == config["provider"]
    assert instance["instanceType"] == config["instanceType"]
    assert instance["region"] == config["region"]
    assert instance["diskSizeGB"] == config["diskSizeGB"]
    assert instance["autoTerminateMinutes"] == config["autoTerminateMinutes"]
    assert instance["costPerHour"] == price
    assert instance["totalCost"] == 0  # the fixture clock has not moved since createdAt
    assert instance["userId"] == body["userId"] and instance["taskId"] == body["taskId"]
    assert instance["purpose"] == body["purpose"]
    assert instance["tags"] == config.get("tags", {})
    assert instance["engine"] == "simulated"
    assert instance["createdAt"].endswith("Z") and instance["terminatedAt"] is None
    assert ipaddress.ip_address(instance["publicIp"]) in ipaddress.ip_network("203.0.113.0/24")
    assert ipaddress.ip_address(instance["privateIp"]) in ipaddress.ip_network("10.0.0.0/8")


EXAMPLES = [
    pytest.param(SEED_AZURE_BODY, 0.90, "azure", id="azure-nc6"),
    pytest.param(SEED_AWS_BODY, 0.526, "aws", id="aws-g4dn"),
]


@pytest.mark.parametrize(("body", "price", "cloud"), EXAMPLES)
def test_seed_example_with_wait_is_201_ready(api: Api, body, price, cloud):
    response = api.client.post("/api/instances?wait=true", json=body, headers=api.user)

    assert response.status_code == 201
    payload = response.json()
    assert payload["success"] is True
    instance = payload["instance"]
    check_ready(instance, body, price)
    assert response.headers["Location"] == f"/api/instances/{instance['id']}"
    if cloud == "azure":
        assert instance["metadata"]["location"] == "eastus"
        assert instance["metadata"]["vmSize"] == "Standard_NC6"
        assert "resourceGroup" in instance["metadata"]
    got = api.client.get(f"/api/instances/{instance['id']}", headers=api.user).json()
    assert got == {"success": True, "instance": instance}


@pytest.mark.parametrize(("body", "price", "cloud"), EXAMPLES)
def test_seed_example_by_polling_after_202(api: Api, body, price, cloud):
    response = api.client.post("/api/instances", json=body, headers=api.user)

    assert response.status_code == 202
    accepted = response.json()["instance"]
    assert accepted["status"] == "PROVISIONING"
    assert accepted["publicIp"] is None
    location = response.headers["Location"]
    assert location == f"/api/instances/{accepted['id']}"
    instance = api.wait_for(accepted["id"], settled, api.user)
    check_ready(instance, body, price)


def test_seed_aws_example_costs_0_263_for_its_30_minutes(api: Api, clock):
    """'Cost: $0.526/hour = $0.263 for 30 minutes' (the seed's Example 2)."""
    instance = api.client.post(
        "/api/instances?wait=true", json=SEED_AWS_BODY, headers=api.user
    ).json()["instance"]
    clock.advance(minutes=30)

    response = api.client.delete(f"/api/instances/{instance['id']}?wait=true", headers=api.user)

    assert response.status_code == 200
    payload = response.json()
    assert payload["success"] is True
    assert payload["message"] == "Instance terminated successfully"
    assert payload["instance"]["status"] == "TERMINATED"
    # The seed's figure is the compute; the 50 GB disk is billed on top (#5).
    breakdown = payload["instance"]["costBreakdown"]
    assert breakdown["compute"] == 0.263
    assert 0 < breakdown["storage"] < 0.01
    assert breakdown["publicIpv4"] == 0.0025  # its public IPv4 address, $0.005/h (#24)
    assert payload["instance"]["totalCost"] == pytest.approx(
        breakdown["compute"] + breakdown["storage"] + breakdown["publicIpv4"]
    )
    assert payload["instance"]["terminatedAt"] is not None


def test_seed_list_and_statistics_shapes(api: Api, clock):
    azure = api.client.post("/api/instances?wait=true", json=SEED_AZURE_BODY, headers=api.user)
    aws = api.client.post("/api/instances?wait=true", json=SEED_AWS_BODY, headers=api.user)
    aws_id = aws.json()["instance"]["id"]
    api.client.post(f"/api/instances/{aws_id}/status", json={"status": "RUNNING"}, headers=api.user)
    clock.advance(minutes=30)

    ready = api.client.get("/api/instances?userId=user-123&status=READY", headers=api.user).json()
    everything = api.client.get("/api/instances?userId=user-123", headers=api.user).json()
    stats = api.client.get("/api/instances/stats?userId=user-123", headers=api.user).json()

    assert ready["success"] is True and ready["count"] == 1
    assert [i["id"] for i in ready["instances"]] == [azure.json()["instance"]["id"]]
    assert everything["count"] == 2 and len(everything["instances"]) == 2
    assert {i["status"] for i in everything["instances"]} == {"READY", "RUNNING"}
    assert stats["success"] is True
    s = stats["statistics"]
    assert s["totalProvisioned"] == 2
    assert s["currentlyRunning"] == 2
    assert s["providerBreakdown"] == {"AWS": 1, "AZURE": 1}
    assert s["instanceTypeBreakdown"] == {"Standard_NC6": 1, "g4dn.xlarge": 1}
    # compute counts each VM's public IPv4 address in fleet sums (30 min at $0.005/h each, #24)
    assert s["costBreakdown"]["compute"] == pytest.approx(0.45 + 0.263 + 2 * 0.0025, abs=1e-6)
    assert s["totalCost"] == pytest.approx(
        s["costBreakdown"]["compute"] + s["costBreakdown"]["storage"], abs=1e-6
    )
    assert s["averageDuration"] == 0.5
    assert s["averageCost"] == pytest.approx(s["totalCost"] / 2, abs=1e-6)
