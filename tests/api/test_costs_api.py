"""Cost report, budgets and the built-in reaper over HTTP."""

from __future__ import annotations

import time

from apiclient import SEED_AWS_BODY, Api, build_api
from factories import make_request


def test_cost_report_is_scoped_to_the_caller_unless_admin(api: Api, clock):
    mine = api.client.post("/api/instances?wait=true", json=SEED_AWS_BODY, headers=api.user)
    theirs = {**SEED_AWS_BODY, "userId": "user-9"}
    api.client.post("/api/instances?wait=true", json=theirs, headers=api.other)
    clock.advance(minutes=30)
    api.client.delete(f"/api/instances/{mine.json()['instance']['id']}?wait=true", headers=api.user)

    own = api.client.get("/api/cost-report?by=user", headers=api.user)
    everyone = api.client.get("/api/cost-report?by=user", headers=api.admin)
    forbidden = api.client.get("/api/cost-report?userId=user-9", headers=api.user)
    bad = api.client.get("/api/cost-report?by=colour", headers=api.admin)

    assert own.status_code == 200
    assert [r["key"] for r in own.json()["report"]["rows"]] == ["user-123"]
    assert {r["key"] for r in everyone.json()["report"]["rows"]} == {"user-123", "user-9"}
    assert forbidden.status_code == 403
    assert bad.status_code == 400


def test_budgets_are_set_by_admins_and_refuse_requests_with_402(api: Api):
    body = {"dailyUsd": 1.0, "maxInstances": 3}
    refused = api.client.put("/api/budgets/user-123", json=body, headers=api.user)
    made = api.client.put("/api/budgets/user-123", json=body, headers=api.admin)
    own = api.client.get("/api/budgets/user-123", headers=api.user)
    other = api.client.get("/api/budgets/user-123", headers=api.other)

    assert refused.status_code == 403
    assert made.status_code == 200 and made.json()["budget"]["dailyUsd"] == 1.0
    assert own.json()["budget"]["maxInstances"] == 3
    assert other.status_code == 403

    too_long = {**SEED_AWS_BODY, "config": {**SEED_AWS_BODY["config"], "autoTerminateMinutes": 120}}
    over = api.client.post("/api/instances", json=too_long, headers=api.user)
    assert over.status_code == 402
    assert over.json()["error"]["code"] == "BUDGET_EXCEEDED"
    assert "daily budget is $1.00" in over.json()["error"]["message"]
    listed = api.client.get("/api/instances", headers=api.user).json()
    assert listed["count"] == 0, "a refused request leaves no record"

    cleared = api.client.delete("/api/budgets/user-123", headers=api.admin)
    assert cleared.status_code == 200
    assert api.client.get("/api/budgets/user-123", headers=api.admin).status_code == 404
    assert api.client.post("/api/instances", json=too_long, headers=api.user).status_code == 202


def test_the_served_app_runs_the_reaper(service, clock):
    expired = service.provision(make_request(auto_terminate_minutes=5))
    clock.advance(minutes=7)
    for _ in build_api(service, reaper=True):
        deadline = time.monotonic() + 30
        while service.get(expired.id).status != "TERMINATED" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.get(expired.id).status == "TERMINATED"
        reasons = [e.detail for e in service.events(expired.id) if e.status == "STOPPING"]
        assert reasons and "ttl" in reasons[0]
