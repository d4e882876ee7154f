"""The dashboard's Queue and Pools pages (#22) over the real app and ledger (TestClient): what a
signed-in user sees of the queue (their own jobs in placement order with the wait reason; an
admin sees everyone's), the pools with their VMs and cost, escaping, and the live fragments and
streams behind a session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from apiclient import Api, build_api
from factories import make_request
from fastapi.testclient import TestClient

from provisioner.ledger import jobs as job_rows
from provisioner.ops.pools_service import create_pool, submit
from provisioner.ops.service import Provisioner
from provisioner.rules.jobs import JobStatus


@pytest.fixture
def api(service: Provisioner) -> Iterator[Api]:
    yield from build_api(service)


def signed_in(api: Api, user: str, *, admin: bool = False) -> TestClient:
    token, _ = api.app.state.api.tokens.create(user, admin=admin)
    response = api.client.post("/signin", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303
    return api.client


def rows(html: str, table: str) -> list[str]:
    """The data-id of each row of one table, in order."""
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return [part.split('"', 1)[0] for part in body.split('<tr data-id="')[1:]]


def test_the_queue_page_shows_a_users_own_jobs_in_placement_order_with_why_they_wait(
    api: Api, service: Provisioner, clock
) -> None:
    create_pool(service, "t4", make_request(), minimum=0, maximum=1)
    first = submit(service, "t4", ["echo <b>one</b>"], user_id="alice")
    clock.advance(seconds=5)
    urgent = submit(service, "t4", ["echo two"], user_id="alice", priority=5)
    theirs = submit(service, "t4", ["echo bob"], user_id="bob")
    clock.advance(seconds=5)
    gone = submit(service, "t4", ["echo three"], user_id="alice")
    job_rows.move_job(
        service.ledger,
        gone.id,
        expected=JobStatus.QUEUED,
        target=JobStatus.CANCELLED,
        at=clock(),
        detail="cancelled by the user",
        reason="cancelled by the user",
        ended_at=clock(),
    )
    client = signed_in(api, "alice")

    page = client.get("/queue")

    assert page.status_code == 200
    assert rows(page.text, "queue-waiting") == [urgent.id, first.id]  # priority first
    assert theirs.id not in page.text  # bob's job is not alice's to see
    assert rows(page.text, "queue-ended") == [gone.id]
    assert "waiting for the next sweep to launch a VM (1 ahead)" in page.text
    assert "echo &lt;b&gt;one&lt;/b&gt;" in page.text and "<b>one</b>" not in page.text
    assert 'aria-current="page"' in page.text.split('href="/queue"', 1)[1][:40]
    fragment = client.get("/ui/queue/rows")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert rows(fragment.text, "queue-waiting") == [urgent.id, first.id]

    admin = signed_in(api, "root", admin=True).get("/queue")
    assert set(rows(admin.text, "queue-waiting")) == {first.id, urgent.id, theirs.id}


def test_the_pools_page_shows_each_pool_its_settings_vms_and_cost(
    api: Api, service: Provisioner
) -> None:
    create_pool(service, "t4", make_request(user_id="alice"), minimum=0, maximum=3, reuse="pool")
    create_pool(service, "a10", make_request(user_id="bob"), minimum=1, maximum=2)
    client = signed_in(api, "carol")  # every pool is visible to every user

    page = client.get("/pools")

    assert page.status_code == 200
    assert sorted(rows(page.text, "pools-table")) == ["a10", "t4"]
    t4 = page.text.split('data-id="t4"', 1)[1].split("</tr>", 1)[0]
    assert "0 / 3" in t4 and "reuse pool" in t4 and "none" in t4 and "$0.0000" in t4
    assert client.get("/ui/pools/rows").status_code == 200


def test_the_queue_and_pools_pages_need_a_session(api: Api) -> None:
    for path in ("/queue", "/pools"):
        response = api.client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/signin")
    for path in ("/ui/queue/rows", "/ui/pools/rows", "/ui/stream/queue", "/ui/stream/pools"):
        assert api.client.get(path).status_code == 401
