"""Server-Sent Events over a real HTTP connection (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
from apiclient import SEED_AWS_BODY


def frames(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parse an SSE stream into {event, id, data} frames as they arrive."""
    frame: dict[str, Any] = {}
    for line in lines:
        if line == "":
            if "event" in frame:
                yield frame
            frame = {}
        elif line.startswith(("event: ", "id: ")):
            key, _, value = line.partition(": ")
            frame[key] = value
        elif line.startswith("data: "):
            frame["data"] = json.loads(line[6:])


def test_sse_replays_history_then_delivers_a_live_transition(live_server):
    base, app = live_server
    token, _ = app.state.api.tokens.create("user-123")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        created = client.post("/api/instances?wait=true", json=SEED_AWS_BODY)
        instance_id = created.json()["instance"]["id"]
        url = f"/api/instances/{instance_id}/events"
        with client.stream("GET", url, headers={"Accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            received = frames(stream.iter_lines())
            history = []
            for frame in received:
                history.append(frame["event"])
                if frame["event"] == "instance:ready":
                    break
            # The stream is open and idle; now the task starts, from another connection.
            with httpx.Client(base_url=base, headers=headers, timeout=30) as other:
                other.post(f"/api/instances/{instance_id}/status", json={"status": "RUNNING"})
            live = next(received)
            with httpx.Client(base_url=base, headers=headers, timeout=30) as other:
                other.delete(f"/api/instances/{instance_id}?wait=true")
            rest = list(received)  # the stream ends once the instance is TERMINATED

    assert history[0] == "instance:provisioning" and history[-1] == "instance:ready"
    assert live["event"] == "instance:running"
    assert live["data"]["status"] == "RUNNING"
    assert live["data"]["instanceId"] == instance_id
    assert int(live["id"]) == len(history) + 1
    assert [f["event"] for f in rest] == ["instance:stopping", "instance:terminated", "end"]
    assert rest[-1]["data"]["status"] == "TERMINATED"


def test_sse_resumes_after_last_event_id(live_server):
    base, app = live_server
    token, _ = app.state.api.tokens.create("user-123")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        instance_id = client.post("/api/instances?wait=true", json=SEED_AWS_BODY).json()[
            "instance"
        ]["id"]
        client.delete(f"/api/instances/{instance_id}?wait=true")
        total = client.get(f"/api/instances/{instance_id}/events").json()["count"]
        response = client.get(
            f"/api/instances/{instance_id}/events",
            headers={"Accept": "text/event-stream", "Last-Event-ID": str(total - 2)},
        )

    got = list(frames(iter(response.text.splitlines())))
    assert [f["event"] for f in got] == ["instance:stopping", "instance:terminated", "end"]
    assert [f.get("id") for f in got[:2]] == [str(total - 1), str(total)]


def test_sse_of_another_users_instance_is_404(live_server):
    base, app = live_server
    mine, _ = app.state.api.tokens.create("user-123")
    theirs, _ = app.state.api.tokens.create("user-9")
    with httpx.Client(base_url=base, timeout=30) as client:
        instance_id = client.post(
            "/api/instances?wait=true",
            json=SEED_AWS_BODY,
            headers={"Authorization": f"Bearer {mine}"},
        ).json()["instance"]["id"]
        response = client.get(
            f"/api/instances/{instance_id}/events",
            headers={"Authorization": f"Bearer {theirs}", "Accept": "text/event-stream"},
        )

    assert response.status_code == 404
