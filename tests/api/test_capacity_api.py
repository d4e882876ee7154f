"""GET /api/offers and capacity fields of POST /api/instances (#12)."""

from __future__ import annotations

import re

from apiclient import Api


def test_offers_mirror_the_cli(api: Api):
    response = api.client.get("/api/offers?gpu=T4:1", headers=api.user)
    assert response.status_code == 200, response.text
    body = response.json()
    names = {(o["provider"], o["instanceType"]) for o in body["offers"]}
    assert {("AWS", "g4dn.xlarge"), ("AZURE", "Standard_NC4as_T4_v3")} <= names
    prices = [o["costPerHour"] for o in body["offers"]]
    assert prices == sorted(prices) and body["count"] == len(prices)
    assert {"gpuMemoryGB", "ramGB", "spotCostPerHour"} <= set(body["offers"][0])


def test_offers_bad_gpu_is_400_naming_the_field(api: Api):
    response = api.client.get("/api/offers?gpu=T4:0", headers=api.user)
    assert response.status_code == 400
    assert "GPU must be MODEL or MODEL:COUNT" in response.json()["error"]["message"]


def test_offers_need_a_token(api: Api):
    assert api.client.get("/api/offers").status_code == 401


def test_post_with_provider_any_and_a_gpu_lands_on_the_cheapest(api: Api):
    cheapest = api.client.get("/api/offers?gpu=T4:1&spot=true", headers=api.user).json()
    first = cheapest["offers"][0]
    body = {
        "config": {"provider": "ANY", "gpu": "T4:1", "maxAttempts": 3, "spot": True},
        "taskId": "t-1",
    }
    response = api.client.post("/api/instances?wait=true", json=body, headers=api.user)
    assert response.status_code == 201, response.text
    instance = response.json()["instance"]
    assert instance["status"] == "READY"
    assert instance["spot"] is True
    assert (instance["provider"], instance["instanceType"], instance["region"]) == (
        first["provider"],
        first["instanceType"],
        first["region"],
    )
    assert instance["costPerHour"] == first["spotCostPerHour"]
    assert [a["outcome"] for a in instance["attempts"]] == ["landed"]
    assert instance["attempts"][0]["candidate"]["spot"] is True


def test_post_with_regions_and_alternative_types(api: Api):
    body = {
        "config": {
            "provider": "AWS",
            "instanceTypes": ["g5.xlarge", "g4dn.xlarge"],
            "regions": ["us-west-2"],
        }
    }
    response = api.client.post("/api/instances?wait=true", json=body, headers=api.user)
    assert response.status_code == 201, response.text
    instance = response.json()["instance"]
    assert (instance["instanceType"], instance["region"]) == ("g4dn.xlarge", "us-west-2")
    assert instance["zone"] == "us-west-2a"


def test_post_bad_max_attempts_is_400(api: Api):
    body = {"config": {"provider": "AWS", "instanceType": "g4dn.xlarge", "maxAttempts": 0}}
    response = api.client.post("/api/instances", json=body, headers=api.user)
    assert response.status_code == 400
    assert "Max attempts" in response.json()["error"]["message"]


def test_empty_strings_are_refused_as_the_schema_says(api: Api):
    """Found by bench/fuzz_api.sh: "" for a region or the offers' provider was taken as "not
    given" while the schema's patterns refuse it. Now both say 400, naming the field."""
    body = {"config": {"provider": "AWS", "instanceType": "g4dn.xlarge", "region": ""}}
    response = api.client.post("/api/instances", json=body, headers=api.user)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "config.region"
    response = api.client.get("/api/offers?provider=", headers=api.user)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "provider"
    assert api.client.get("/api/instances?limit=5", headers=api.user).json()["count"] == 0


def test_the_schema_admits_any_where_the_server_does(api: Api):
    spec = api.client.get("/openapi.json").json()
    config = spec["components"]["schemas"]["ConfigIn"]["properties"]
    assert re.fullmatch(config["provider"]["pattern"], "any")
    region = next(o for o in config["region"]["anyOf"] if o.get("type") == "string")
    assert re.fullmatch(region["pattern"], "any") and region["minLength"] == 1
    offers = spec["paths"]["/api/offers"]["get"]["parameters"]
    provider = next(p for p in offers if p["name"] == "provider")["schema"]
    option = next(o for o in provider["anyOf"] if o.get("type") == "string")
    assert re.fullmatch(option["pattern"], "ANY")
    types = spec["paths"]["/api/instance-types"]["get"]["parameters"]
    provider = next(p for p in types if p["name"] == "provider")["schema"]
    option = next(o for o in provider["anyOf"] if o.get("type") == "string")
    assert not re.fullmatch(option["pattern"], "ANY"), "a type belongs to one cloud"
