"""Instance operations through the API: async and waiting, failures, paging, idempotency."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from apiclient import SEED_AWS_BODY, SEED_AZURE_BODY, Api, settled
from fastapi.testclient import TestClient


def ready(api: Api, body=SEED_AWS_BODY) -> dict:
    response = api.client.post("/api/instances?wait=true", json=body, headers=api.user)
    assert response.status_code == 201, response.text
    return dict(response.json()["instance"])


def test_delete_is_202_stopping_then_terminated(api: Api):
    instance = ready(api)

    response = api.client.delete(f"/api/instances/{instance['id']}", headers=api.user)

    assert response.status_code == 202
    assert response.json()["instance"]["status"] in ("STOPPING", "TERMINATED")
    assert response.headers["Location"] == f"/api/instances/{instance['id']}"
    final = api.wait_for(instance["id"], settled, api.user)
    assert final["status"] == "TERMINATED" and final["terminatedAt"] is not None


def test_deleting_a_terminated_instance_is_a_200_no_op(api: Api):
    instance = ready(api)
    first = api.client.delete(f"/api/instances/{instance['id']}?wait=true", headers=api.user)
    events_before = api.client.get(f"/api/instances/{instance['id']}/events", headers=api.user)

    again = api.client.delete(f"/api/instances/{instance['id']}", headers=api.user)

    assert again.status_code == 200
    assert again.json()["success"] is True
    assert again.json()["instance"] == first.json()["instance"]
    events_after = api.client.get(f"/api/instances/{instance['id']}/events", headers=api.user)
    assert events_after.json()["count"] == events_before.json()["count"]


def test_task_marks_running_and_ready_and_illegal_moves_are_409(api: Api):
    instance = ready(api)
    url = f"/api/instances/{instance['id']}/status"

    running = api.client.post(url, json={"status": "RUNNING"}, headers=api.user)
    back = api.client.post(url, json={"status": "ready"}, headers=api.user)
    api.client.delete(f"/api/instances/{instance['id']}?wait=true", headers=api.user)
    illegal = api.client.post(url, json={"status": "RUNNING"}, headers=api.user)

    assert running.json()["instance"]["status"] == "RUNNING"
    assert back.json()["instance"]["status"] == "READY"
    assert illegal.status_code == 409
    assert illegal.json()["error"]["code"] == "INVALID_TRANSITION"
    assert "TERMINATED" in illegal.json()["error"]["message"]


def test_extend_moves_expiry_but_never_past_the_hard_deadline(api: Api):
    instance = ready(api)  # 30 minutes; the hard deadline is 240 minutes after creation
    url = f"/api/instances/{instance['id']}/extend"

    extended = api.client.post(url, json={"minutes": 100}, headers=api.user)
    too_far = api.client.post(url, json={"minutes": 121}, headers=api.user)
    capped = api.client.post(url, json={"minutes": 120}, headers=api.user)
    beyond = api.client.post(url, json={"minutes": 1}, headers=api.user)

    created = datetime.fromisoformat(instance["createdAt"])
    expires = datetime.fromisoformat(extended.json()["instance"]["expiresAt"])
    assert extended.status_code == 200
    assert (expires - created).total_seconds() == 130 * 60
    assert too_far.status_code == 400  # one call adds at most the longest ttl
    # 120 more would pass the deadline at 240: the expiry stops at the deadline itself.
    assert capped.status_code == 200
    assert capped.json()["instance"]["expiresAt"] == instance["hardDeadline"]
    assert beyond.status_code == 400
    message = beyond.json()["error"]["message"]
    assert "hard deadline" in message and "nothing outlives it" in message
    unchanged = api.client.get(f"/api/instances/{instance['id']}", headers=api.user).json()
    assert unchanged["instance"]["expiresAt"] == instance["hardDeadline"]


def test_extending_a_terminated_instance_is_409(api: Api):
    instance = ready(api)
    api.client.delete(f"/api/instances/{instance['id']}?wait=true", headers=api.user)

    response = api.client.post(
        f"/api/instances/{instance['id']}/extend", json={"minutes": 10}, headers=api.user
    )

    assert response.status_code == 409


def test_a_failed_up_with_wait_is_502_with_the_envelope_and_the_failed_instance(make_api):
    api = make_api(sim_fail_up=1.0, sim_fail_kind="capacity")

    response = api.client.post("/api/instances?wait=true", json=SEED_AWS_BODY, headers=api.user)

    assert response.status_code == 502
    payload = response.json()
    assert payload["success"] is False
    assert payload["error"]["code"] == "PROVISIONING_FAILED"
    assert "InsufficientInstanceCapacity" in payload["error"]["message"]
    assert payload["instance"]["status"] == "FAILED"
    assert payload["instance"]["errorCode"] == "InsufficientInstanceCapacity"


def test_a_failed_up_after_202_ends_failed_for_the_poller(make_api):
    api = make_api(sim_fail_up=1.0, sim_fail_kind="quota")

    response = api.client.post("/api/instances", json=SEED_AZURE_BODY, headers=api.user)

    assert response.status_code == 202
    final = api.wait_for(response.json()["instance"]["id"], settled, api.user)
    assert final["status"] == "FAILED"
    assert final["errorCode"] == "OperationNotAllowed"


def test_a_failed_destroy_with_wait_is_502_and_the_instance_stays_stopping(make_api):
    api = make_api(sim_fail_destroy=1.0)
    instance = ready(api)

    response = api.client.delete(f"/api/instances/{instance['id']}?wait=true", headers=api.user)

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "DESTROY_FAILED"
    assert response.json()["instance"]["status"] == "STOPPING"
    assert response.json()["instance"]["terminatedAt"] is None


def test_paging_walks_every_instance_once_newest_first(api: Api, clock):
    made = []
    for _ in range(5):
        made.append(ready(api)["id"])
        clock.advance(seconds=1)
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/instances?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.client.get(url, headers=api.user).json()
        pages += 1
        seen += [i["id"] for i in page["instances"]]
        assert page["count"] == len(page["instances"]) <= 2
        cursor = page["nextCursor"]
        if cursor is None:
            break

    assert seen == list(reversed(made))
    assert pages == 3
    everything = api.client.get("/api/instances", headers=api.user).json()
    assert everything["count"] == 5 and everything["nextCursor"] is None


def test_idempotency_key_repeat_returns_the_same_instance(api: Api, clock):
    headers = {**api.user, "Idempotency-Key": "order-42"}
    first = api.client.post("/api/instances", json=SEED_AWS_BODY, headers=headers)
    api.wait_for(first.json()["instance"]["id"], settled, api.user)
    clock.advance(hours=23)

    repeat = api.client.post("/api/instances", json=SEED_AWS_BODY, headers=headers)
    other_user = api.client.post(
        "/api/instances",
        json={**SEED_AWS_BODY, "userId": "user-9"},
        headers={**api.other, "Idempotency-Key": "order-42"},
    )

    assert first.status_code == 202
    assert repeat.status_code == 200
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert repeat.json()["instance"]["id"] == first.json()["instance"]["id"]
    assert repeat.json()["instance"]["status"] == "READY"
    assert other_user.status_code == 202
    assert other_user.json()["instance"]["id"] != first.json()["instance"]["id"]
    assert len(api.service.list("user-123")) == 1


def test_an_idempotency_key_expires_after_24_hours(api: Api, clock):
    headers = {**api.user, "Idempotency-Key": "order-43"}
    first = api.client.post("/api/instances?wait=true", json=SEED_AWS_BODY, headers=headers)
    clock.advance(hours=24, seconds=1)

    later = api.client.post("/api/instances?wait=true", json=SEED_AWS_BODY, headers=headers)

    assert later.status_code == 201
    assert later.json()["instance"]["id"] != first.json()["instance"]["id"]


def test_with_one_worker_ups_run_one_after_another(make_api):
    api = make_api(max_parallel=1, sim_delay=0.05)
    ids = [
        api.client.post("/api/instances", json=SEED_AWS_BODY, headers=api.user).json()["instance"][
            "id"
        ]
        for _ in range(3)
    ]
    spans = []
    for instance_id in ids:
        assert api.wait_for(instance_id, settled, api.user)["status"] == "READY"
        events = api.service.events(instance_id)
        started = next(e.at for e in events if e.type == "instance:configuring")
        spans.append((started, next(e.at for e in events if e.type == "instance:ready")))

    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start  # no two ups overlapped


def test_a_delete_during_provisioning_is_409(make_api):
    api = make_api(sim_delay=0.5)
    accepted = api.client.post("/api/instances", json=SEED_AWS_BODY, headers=api.user).json()

    response = api.client.delete(f"/api/instances/{accepted['instance']['id']}", headers=api.user)

    assert response.status_code == 409
    assert "provision" in response.json()["error"]["message"]
    assert api.wait_for(accepted["instance"]["id"], settled, api.user)["status"] == "READY"


def test_events_as_json(api: Api):
    instance = ready(api, SEED_AZURE_BODY)

    response = api.client.get(f"/api/instances/{instance['id']}/events", headers=api.user)

    types = [e["type"] for e in response.json()["events"]]
    assert types[0] == "instance:provisioning"
    notes = ("instance:warning", "instance:readiness")  # remarks between the state changes
    assert [t for t in types if t not in notes][-2:] == ["instance:configuring", "instance:ready"]
    assert response.json()["count"] == len(types)


def test_instance_types_and_health(api: Api):
    types = api.client.get("/api/instance-types?provider=azure", headers=api.user).json()
    health = api.client.get("/healthz").json()

    names = {t["instanceType"] for t in types["instanceTypes"]}
    assert "Standard_NC6" in names and "g4dn.xlarge" not in names
    assert types["count"] == len(names)
    assert health["status"] == "ok" and health["checks"]["ledger"]["ok"] is True
    assert health["engine"] == "simulated"


def test_unknown_routes_and_methods_use_the_envelope(api: Api):
    missing = api.client.get("/api/nothing", headers=api.user)
    method = api.client.put("/api/instances", headers=api.user)

    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    assert method.status_code == 405
    assert method.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_a_500_does_not_leak_internals(api: Api, monkeypatch: pytest.MonkeyPatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("postgresql://admin:hunter2@db/ledger is down")

    monkeypatch.setattr(api.service.ledger, "statistics", broken)
    client = TestClient(api.app, raise_server_exceptions=False)

    response = client.get("/api/instances/stats", headers=api.user)

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert "error id" in response.json()["error"]["message"]
    assert "hunter2" in caplog.text  # the operator still gets the details in the log
