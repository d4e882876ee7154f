"""GCP through the REST API: the same JSON, statistics and cost report with GCP in them."""

from __future__ import annotations

import copy

from apiclient import SEED_AWS_BODY, Api

GCP_BODY = copy.deepcopy(SEED_AWS_BODY)
GCP_BODY["config"] = {
    "provider": "gcp",
    "instanceType": "a2-highgpu-1g",
    "diskSizeGB": 200,
    "autoTerminateMinutes": 30,
    "tags": {"Team": "Vision", "Cost Center:2024": "R&D"},
}


def test_gcp_instance_round_trip_with_stats(api: Api):
    response = api.client.post("/api/instances?wait=true", json=GCP_BODY, headers=api.user)
    assert response.status_code == 201, response.text
    instance = response.json()["instance"]
    assert (instance["provider"], instance["region"]) == ("GCP", "us-central1")
    assert instance["costPerHour"] == 3.6734
    assert instance["tags"] == {"Team": "Vision", "Cost Center:2024": "R&D"}  # kept as given
    assert instance["publicIp"].startswith("203.0.113.")
    assert {"project", "zone", "machineType"} <= set(instance["metadata"])

    stats = api.client.get("/api/instances/stats", headers=api.user).json()["statistics"]
    assert stats["providerBreakdown"] == {"GCP": 1}

    done = api.client.delete(f"/api/instances/{instance['id']}?wait=true", headers=api.user)
    assert done.status_code == 200
    assert done.json()["instance"]["status"] == "TERMINATED"

    types = api.client.get("/api/instance-types?provider=gcp", headers=api.user).json()
    assert {t["provider"] for t in types["instanceTypes"]} == {"GCP"}
    a2 = next(t for t in types["instanceTypes"] if t["instanceType"] == "a2-highgpu-1g")
    assert a2["zones"]["us-central1"][0] == "us-central1-a"
    assert 0 < a2["spotPrices"]["us-central1"] < a2["costPerHour"]


def test_an_unknown_provider_names_all_three(api: Api):
    body = copy.deepcopy(GCP_BODY)
    body["config"]["provider"] = "OCI"
    response = api.client.post("/api/instances", json=body, headers=api.user)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Provider must be AWS, AZURE or GCP")
