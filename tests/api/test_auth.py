"""Who may do what: bearer tokens, user isolation, admin reach."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from apiclient import SEED_AWS_BODY, Api

ROUTES = [
    ("get", "/api/instances/{id}", None),
    ("delete", "/api/instances/{id}", None),
    ("post", "/api/instances/{id}/extend", {"minutes": 10}),
    ("post", "/api/instances/{id}/status", {"status": "RUNNING"}),
    ("get", "/api/instances/{id}/events", None),
]


def ready_instance(api: Api) -> str:
    response = api.client.post("/api/instances?wait=true", json=SEED_AWS_BODY, headers=api.user)
    assert response.status_code == 201
    return str(response.json()["instance"]["id"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/instances"),
        ("get", "/api/instances/stats"),
        ("get", "/api/instances/inst-000000000000"),
        ("get", "/api/instance-types"),
        ("post", "/api/instances"),
    ],
)
def test_no_token_is_401_with_the_envelope(api: Api, method, path):
    response = api.client.request(method, path, json=SEED_AWS_BODY if method == "post" else None)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert "Bearer" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "authorization", ["Bearer prov_not-a-token", "Bearer ", "Basic dXNlcjpwdw==", "prov_x"]
)
def test_bad_token_is_401(api: Api, authorization):
    response = api.client.get("/api/instances", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_revoked_token_stops_working(api: Api):
    token, info = api.app.state.api.tokens.create("user-123")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/instances", headers=headers).status_code == 200

    api.app.state.api.tokens.revoke(info.id)

    response = api.client.get("/api/instances", headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_tokens_are_stored_only_as_hashes(api: Api):
    token, info = api.app.state.api.tokens.create("user-123")
    with api.service.ledger.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM api_tokens")).all()
    stored = repr(rows)

    assert info.id in stored  # the record is there...
    assert token not in stored  # ...but not the token
    assert token.removeprefix("prov_") not in stored


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_another_users_instance_is_404_as_if_it_did_not_exist(api: Api, method, path, body):
    instance_id = ready_instance(api)
    missing = api.client.request(
        method, path.format(id="inst-000000000000"), json=body, headers=api.other
    )

    response = api.client.request(method, path.format(id=instance_id), json=body, headers=api.other)

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "NOT_FOUND",
        "message": f"Instance {instance_id} not found",
    }
    assert missing.status_code == 404
    # and nothing happened to it
    still = api.client.get(f"/api/instances/{instance_id}", headers=api.user).json()["instance"]
    assert still["status"] == "READY"


def test_acting_as_another_user_is_403(api: Api):
    as_other = {**SEED_AWS_BODY, "userId": "user-123"}

    post = api.client.post("/api/instances", json=as_other, headers=api.other)
    listing = api.client.get("/api/instances?userId=user-123", headers=api.other)
    stats = api.client.get("/api/instances/stats?userId=user-123", headers=api.other)

    for response in (post, listing, stats):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "FORBIDDEN"
        assert "user-9" in response.json()["error"]["message"]
    assert api.service.list() == []  # the refused POST recorded nothing


def test_an_omitted_user_id_means_the_tokens_own_user(api: Api):
    body = {k: v for k, v in SEED_AWS_BODY.items() if k != "userId"}
    mine = api.client.post("/api/instances?wait=true", json=body, headers=api.other)
    ready_instance(api)  # user-123's

    listing = api.client.get("/api/instances", headers=api.other).json()
    stats = api.client.get("/api/instances/stats", headers=api.other).json()["statistics"]

    assert mine.json()["instance"]["userId"] == "user-9"
    assert [i["id"] for i in listing["instances"]] == [mine.json()["instance"]["id"]]
    assert stats["totalProvisioned"] == 1


def test_an_admin_sees_and_acts_on_everything(api: Api):
    instance_id = ready_instance(api)
    body = {**SEED_AWS_BODY, "userId": "user-9"}
    for_other = api.client.post("/api/instances?wait=true", json=body, headers=api.admin)

    listing = api.client.get("/api/instances", headers=api.admin).json()
    stats = api.client.get("/api/instances/stats", headers=api.admin).json()["statistics"]
    one_user = api.client.get("/api/instances/stats?userId=user-9", headers=api.admin).json()
    got = api.client.get(f"/api/instances/{instance_id}", headers=api.admin)
    deleted = api.client.delete(f"/api/instances/{instance_id}?wait=true", headers=api.admin)

    assert for_other.status_code == 201 and for_other.json()["instance"]["userId"] == "user-9"
    assert listing["count"] == 2
    assert stats["totalProvisioned"] == 2
    assert one_user["statistics"]["totalProvisioned"] == 1
    assert got.status_code == 200
    assert deleted.status_code == 200 and deleted.json()["instance"]["status"] == "TERMINATED"


def test_health_and_docs_need_no_token(api: Api):
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/openapi.json").status_code == 200
    assert api.client.get("/docs").status_code == 200
