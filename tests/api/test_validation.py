"""Every input rule through the API: 400, the field, and a message naming the rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from apiclient import SEED_AZURE_BODY, Api
from factories import ED25519_KEY


def body_with(**config: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED_AZURE_BODY)
    body["config"].update(config)
    return body


def top_with(**fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED_AZURE_BODY)
    body.update(fields)
    return body


CASES = [
    # (body, field, words the message must contain)
    (body_with(provider="OCI"), "config.provider", ["Provider", "AWS, AZURE or GCP"]),
    (body_with(provider=7), "config.provider", ["Provider", "must be a string"]),
    (body_with(instanceType="p9.huge"), "config.instanceType", ["Instance type", "catalog"]),
    (body_with(instanceType="g4dn.xlarge"), "config.instanceType", ["AWS type", "AZURE"]),
    (body_with(region="mars-1"), "config.region", ["Region", "not offered"]),
    (body_with(diskSizeGB=29), "config.diskSizeGB", ["Disk size", "between 30 and 4096"]),
    (body_with(diskSizeGB=4097), "config.diskSizeGB", ["Disk size", "between 30 and 4096"]),
    (body_with(diskSizeGB="100"), "config.diskSizeGB", ["Disk size", "must be an integer"]),
    (body_with(diskSizeGB=100.5), "config.diskSizeGB", ["Disk size", "must be an integer"]),
    (body_with(diskSizeGB=True), "config.diskSizeGB", ["Disk size", "must be an integer"]),
    (
        body_with(autoTerminateMinutes=4),
        "config.autoTerminateMinutes",
        ["Auto-terminate", "between 5 and 120"],
    ),
    (
        body_with(autoTerminateMinutes=121),
        "config.autoTerminateMinutes",
        ["Auto-terminate", "between 5 and 120"],
    ),
    (
        body_with(autoTerminateMinutes="sixty"),
        "config.autoTerminateMinutes",
        ["Auto-terminate", "must be an integer"],
    ),
    (top_with(userId="user 123"), "userId", ["User id", "1-64 characters"]),
    (top_with(userId="u" * 65), "userId", ["User id", "1-64"]),
    (top_with(taskId="task/456"), "taskId", ["Task id", "1-64 characters"]),
    (top_with(taskId=456), "taskId", ["Task id", "must be a string"]),
    (body_with(tags={f"k{n}": "v" for n in range(41)}), "config.tags", ["at most 40"]),
    (body_with(tags={"k" * 129: "v"}), "config.tags", ["Tag key", "1-128"]),
    (body_with(tags={"": "v"}), "config.tags", ["Tag key", "1-128"]),
    (body_with(tags={"aws:owner": "me"}), "config.tags", ["reserved prefix"]),
    (body_with(tags={"provisioner:x": "me"}), "config.tags", ["reserved prefix"]),
    (body_with(tags={"a/b": "v"}), "config.tags", ["must not contain"]),
    (body_with(tags={"a<b": "v"}), "config.tags", ["must not contain"]),
    (body_with(tags={"k": "v" * 257}), "config.tags", ["Tag value", "256"]),
    (body_with(tags={"k": 1}), "config.tags.k", ["Tags", "must be a string"]),
    (body_with(tags=["a"]), "config.tags", ["Tags", "must be a JSON object"]),
    (top_with(purpose="p" * 257), "purpose", ["Purpose", "256"]),
    (top_with(purpose="line\nbreak"), "purpose", ["Purpose", "control characters"]),
    (body_with(sshPublicKey="not a key"), "sshPublicKey", ["SSH key", "OpenSSH public key"]),
    (
        body_with(sshPublicKey="-----BEGIN OPENSSH PRIVATE KEY-----"),
        "sshPublicKey",
        ["private key"],
    ),
    (body_with(allowedSshCidrs=["10.0.0.0/33"]), "allowedSshCidrs", ["CIDR", "not a valid"]),
    (body_with(allowedSshCidrs="10.0.0.0/8"), "config.allowedSshCidrs", ["must be a JSON array"]),
    (top_with(config=None), "config", ["config", "must be a JSON object"]),
    (
        {k: v for k, v in SEED_AZURE_BODY.items() if k != "config"},
        "config",
        ["config", "is required"],
    ),
    (
        {**SEED_AZURE_BODY, "config": {"instanceType": "Standard_NC6"}},
        "config.provider",
        ["Provider", "is required"],
    ),
    (top_with(autoTerminateMinutes=30), "autoTerminateMinutes", ["Unknown field"]),
    (body_with(diskSize=100), "config.diskSize", ["Unknown field", "spelling"]),
]


@pytest.mark.parametrize(("body", "field", "words"), CASES)
def test_each_rule_is_a_400_naming_field_and_rule(api: Api, body, field, words):
    response = api.client.post("/api/instances", json=body, headers=api.user)

    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["success"] is False
    assert payload["error"]["code"] == "VALIDATION_ERROR"
    assert payload["error"]["field"] == field
    for word in words:
        assert word in payload["error"]["message"]
    assert api.service.list() == []  # nothing recorded


def test_a_valid_ssh_key_and_cidr_are_accepted(api: Api):
    body = body_with(sshPublicKey=ED25519_KEY, allowedSshCidrs=["198.51.100.7/32"])

    # an admin token: under the simulated engine an own key is admin-only (#26)
    response = api.client.post("/api/instances?wait=true", json=body, headers=api.admin)

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("content", "headers", "words"),
    [
        (b'{"userId": "user-123", ', {"Content-Type": "application/json"}, ["not valid JSON"]),
        (b"{'single': 'quotes'}", {"Content-Type": "application/json"}, ["not valid JSON"]),
        (b"", {"Content-Type": "application/json"}, ["required"]),
        (b"[1, 2]", {"Content-Type": "application/json"}, ["must be a JSON object"]),
        (b'"text"', {"Content-Type": "application/json"}, ["must be a JSON object"]),
        (b"userId=user-123", {"Content-Type": "text/plain"}, ["JSON object"]),
    ],
)
def test_malformed_json_is_a_400_not_a_422(api: Api, content, headers, words):
    response = api.client.post("/api/instances", content=content, headers={**api.user, **headers})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["field"] == "body"
    for word in words:
        assert word in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "field", "words"),
    [
        ("/api/instances?status=SLEEPING", "status", ["Status must be one of"]),
        ("/api/instances?limit=0", "limit", ["limit", "greater than or equal to 1"]),
        ("/api/instances?limit=1001", "limit", ["limit", "less than or equal to 1000"]),
        ("/api/instances?limit=ten", "limit", ["limit", "must be an integer"]),
        ("/api/instances?cursor=%%%", "cursor", ["cursor", "pattern"]),
        ("/api/instances?userId=bad%20id", "userId", ["User id"]),
        ("/api/instances?wait=perhaps", None, None),  # GET ignores wait: not a parameter
        ("/api/instance-types?provider=oci", "config.provider", ["Provider", "GCP"]),
    ],
)
def test_query_parameters_are_checked(api: Api, path, field, words):
    response = api.client.get(path, headers=api.user)

    if field is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    for word in words:
        assert word in response.json()["error"]["message"]


def test_wait_must_be_a_boolean(api: Api):
    response = api.client.post(
        "/api/instances?wait=perhaps", json=SEED_AZURE_BODY, headers=api.user
    )

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "wait"
    assert "true or false" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "field", "words"),
    [
        ("extend", {"minutes": 0}, "minutes", ["Extension", "between 1 and 120"]),
        ("extend", {"minutes": "30"}, "minutes", ["Extension", "must be an integer"]),
        ("extend", {}, "minutes", ["Extension", "is required"]),
        ("status", {"status": "TERMINATED"}, "status", ["RUNNING", "READY"]),
        ("status", {"status": "bogus"}, "status", ["RUNNING", "READY"]),
        ("status", {"status": 1}, "status", ["Status", "must be a string"]),
    ],
)
def test_extend_and_status_bodies_are_checked(api: Api, path, body, field, words):
    created = api.client.post("/api/instances?wait=true", json=SEED_AZURE_BODY, headers=api.user)
    instance_id = created.json()["instance"]["id"]

    response = api.client.post(f"/api/instances/{instance_id}/{path}", json=body, headers=api.user)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    for word in words:
        assert word in response.json()["error"]["message"]


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey"])
def test_a_bad_idempotency_key_is_a_400(api: Api, key):
    response = api.client.post(
        "/api/instances", json=SEED_AZURE_BODY, headers={**api.user, "Idempotency-Key": key}
    )

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Idempotency-Key"
