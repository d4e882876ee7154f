"""The dashboard's HTTP rules without a browser: sign-in cookie, CSRF and origin checks, headers,
escaping, isolation of the fragments and streams (TestClient over the real app and ledger)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from apiclient import Api, build_api
from factories import azure_request, make_request
from fastapi.testclient import TestClient

from provisioner.ops.service import Provisioner
from provisioner.web.session import COOKIE


@pytest.fixture
def api(service: Provisioner) -> Iterator[Api]:
    yield from build_api(service)


def signed_in(api: Api, user: str, *, admin: bool = False) -> TestClient:
    token, _ = api.app.state.api.tokens.create(user, admin=admin)
    response = api.client.post("/signin", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303
    return api.client


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_pages_need_a_session(api: Api) -> None:
    for path in ("/", "/new", "/costs", "/instances/nope"):
        response = api.client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/signin")
    for path in ("/ui/fleet/rows", "/ui/stream/fleet", "/ui/instances/x/panel"):
        assert api.client.get(path).status_code == 401
    assert api.client.post("/instances/x/terminate", follow_redirects=False).status_code == 303


def test_sign_in_keeps_the_token_in_a_strict_http_only_cookie(api: Api) -> None:
    token, _ = api.app.state.api.tokens.create("alice")
    response = api.client.post("/signin", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert token not in response.headers["location"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    page = api.client.get("/")
    assert page.status_code == 200
    assert "alice" in page.text
    assert token not in page.text


def test_a_bad_token_is_refused_on_the_form(api: Api) -> None:
    response = api.client.post("/signin", data={"token": "nope"})
    assert response.status_code == 401
    assert 'aria-invalid="true"' in response.text
    assert COOKIE not in response.headers.get("set-cookie", "")


def test_sign_out_and_revocation_end_the_session(api: Api) -> None:
    client = signed_in(api, "alice")
    page = client.get("/")
    out = client.post("/signout", data={"csrf": csrf(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303

    token, info = api.app.state.api.tokens.create("bob")
    client.post("/signin", data={"token": token})
    assert client.get("/", follow_redirects=False).status_code == 200
    api.app.state.api.tokens.revoke(info.id)
    assert client.get("/", follow_redirects=False).headers["location"] == "/signin"


def test_a_post_without_the_csrf_token_or_from_another_origin_does_nothing(
    api: Api, service: Provisioner
) -> None:
    instance = service.provision(make_request(user_id="alice"))
    client = signed_in(api, "alice")
    page = client.get(f"/instances/{instance.id}")
    token = csrf(page.text)
    path = f"/instances/{instance.id}/terminate"
    assert client.post(path, data={}).status_code == 403
    assert client.post(path, data={"csrf": "0" * 64}).status_code == 403
    foreign = client.post(path, data={"csrf": token}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    cross = client.post(path, data={"csrf": token}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert service.get(instance.id).status == "READY"
    ok = client.post(path, data={"csrf": token}, follow_redirects=False)
    assert (ok.status_code, ok.headers["location"]) == (
        303,
        f"/instances/{instance.id}?done=terminating",
    )
    api.wait_for(instance.id, lambda i: i["status"] == "TERMINATED", api.admin)


def test_pages_carry_a_strict_content_security_policy(api: Api) -> None:
    client = signed_in(api, "alice")
    for path in ("/", "/new", "/costs", "/signin"):
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert "<script>" not in response.text  # no inline script anywhere
        assert re.findall(r"<script[^>]*>", response.text) == [
            '<script src="/static/app.js" defer>'
        ]
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")


def test_server_strings_are_escaped(api: Api, service: Provisioner) -> None:
    instance = service.provision(
        make_request(user_id="alice", tags={"note": "<script>alert(1)</script>"})
    )
    page = signed_in(api, "alice").get(f"/instances/{instance.id}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text


def test_fragments_and_streams_follow_isolation(api: Api, service: Provisioner) -> None:
    theirs = service.provision(make_request(user_id="alice"))
    client = signed_in(api, "bob")
    assert theirs.id not in client.get("/").text
    assert theirs.id not in client.get("/ui/fleet/rows?user=alice").text
    assert client.get(f"/ui/instances/{theirs.id}/panel").status_code == 404
    assert client.get(f"/ui/stream/instances/{theirs.id}").status_code == 404
    assert client.get("/costs?user=alice").status_code == 403


def test_the_form_reports_the_apis_field(api: Api, service: Provisioner) -> None:
    client = signed_in(api, "alice")
    token = csrf(client.get("/new").text)
    form = {
        "csrf": token,
        "provider": "AWS",
        "instanceType": "g4dn.xlarge",
        "region": "us-east-1",
        "diskSizeGB": "50",
        "autoTerminateMinutes": "500",
    }
    response = client.post("/new", data=form)
    assert response.status_code == 400
    assert 'id="autoTerminateMinutes-error"' in response.text
    assert "Auto-terminate" in response.text
    form["autoTerminateMinutes"] = "soon"
    response = client.post("/new", data=form)
    assert 'id="autoTerminateMinutes-error"' in response.text
    form["autoTerminateMinutes"] = "30"
    form["instanceType"] = "Standard_NC6"
    response = client.post("/new", data=form)
    assert 'id="instanceType-error"' in response.text
    assert service.list() == []
    form["instanceType"] = "g4dn.xlarge"
    created = client.post("/new", data=form, follow_redirects=False)
    assert created.status_code == 303
    instance_id = created.headers["location"].rsplit("/", 1)[-1]
    assert service.get(instance_id).user_id == "alice"
    api.wait_for(instance_id, lambda i: i["status"] == "READY", api.admin)


def test_the_fleet_pages_and_filters(api: Api, service: Provisioner) -> None:
    for number in range(53):
        service.begin_provision(make_request(user_id="alice", task_id=f"aws-{number}"))
    for number in range(3):
        service.begin_provision(azure_request(user_id="alice", task_id=f"azure-{number}"))
    service.begin_provision(make_request(user_id="bob"))
    client = signed_in(api, "alice")

    def rows(html: str) -> set[str]:
        return set(re.findall(r'<tr data-id="([^"]+)"', html))

    first, second = client.get("/").text, client.get("/?page=2").text
    assert "56 instances, page 1 of 2" in first
    assert (len(rows(first)), len(rows(second))) == (50, 6)
    mine = {i.id for i in service.list("alice")}
    assert rows(first) | rows(second) == mine
    assert 'href="/?page=2" rel="next"' in first
    azure = client.get("/?provider=azure").text
    assert rows(azure) == {i.id for i in service.list("alice") if i.provider == "AZURE"}
    assert rows(client.get("/?status=READY").text) == set()
    assert len(rows(client.get("/?status=PROVISIONING&page=2").text)) == 6
    assert rows(client.get("/ui/fleet/rows?provider=AZURE").text) == rows(azure)
