"""What one token may hold open or churn through events (#26, points 6 and 7): a cap on open
streams per token, a revoked token's stream ends within a second, a rate on status toggles."""

from __future__ import annotations

import contextlib
import time

import httpx
from api.test_sse import frames
from apiclient import SEED_AWS_BODY

SSE = {"Accept": "text/event-stream"}


def test_a_token_past_its_open_streams_gets_429_and_others_do_not(live_server):
    base, app = live_server
    cap = app.state.api.settings.max_streams_per_token
    token, _ = app.state.api.tokens.create("user-123")
    other, _ = app.state.api.tokens.create("user-123")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        created = client.post("/api/instances?wait=true", json=SEED_AWS_BODY)
        url = f"/api/instances/{created.json()['instance']['id']}/events"
        with contextlib.ExitStack() as held:
            opened = [
                held.enter_context(client.stream("GET", url, headers=SSE)) for _ in range(cap)
            ]
            refused = client.get(url, headers=SSE)
            with client.stream(
                "GET", url, headers={**SSE, "Authorization": f"Bearer {other}"}
            ) as second_token:
                other_status = second_token.status_code
        # All closed: the count is back to zero, a new stream is allowed.
        deadline = time.monotonic() + 5
        while app.state.api.streams.open_count(app.state.api.tokens.verify(token).token_id):
            assert time.monotonic() < deadline, "closed streams still counted"
            time.sleep(0.05)
        with client.stream("GET", url, headers=SSE) as again:
            again_status = again.status_code

    assert [s.status_code for s in opened] == [200] * cap
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert "PROVISIONER_MAX_STREAMS_PER_TOKEN" in refused.json()["error"]["message"]
    assert other_status == 200
    assert again_status == 200


def test_revoking_a_token_ends_its_open_stream_within_a_second(live_server):
    base, app = live_server
    tokens = app.state.api.tokens
    token, info = tokens.create("user-123")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        created = client.post("/api/instances?wait=true", json=SEED_AWS_BODY)
        url = f"/api/instances/{created.json()['instance']['id']}/events"
        with client.stream("GET", url, headers=SSE) as stream:
            received = frames(stream.iter_lines())
            for frame in received:
                if frame["event"] == "instance:ready":
                    break
            time.sleep(0.6)  # idle, its token checked and cached as valid
            tokens.revoke(info.id)
            revoked_at = time.monotonic()
            rest = [frame["event"] for frame in received]  # ends when the server closes it
            ended_after = time.monotonic() - revoked_at

    assert rest == ["revoked"]
    assert ended_after < 1.0, f"the stream ran on {ended_after:.2f} s after the revocation"


def test_status_toggles_past_the_per_token_rate_get_429(make_api):
    api = make_api(status_change_limit="4/minute")
    created = api.client.post("/api/instances?wait=true", json=SEED_AWS_BODY, headers=api.user)
    url = f"/api/instances/{created.json()['instance']['id']}/status"
    codes = [
        api.client.post(url, json={"status": s}, headers=api.user).status_code
        for s in ("RUNNING", "READY", "RUNNING", "READY", "RUNNING")
    ]
    other = api.client.post(url, json={"status": "RUNNING"}, headers=api.admin)

    assert codes == [200, 200, 200, 200, 429]
    assert other.status_code == 200  # the cap is the token's, not the instance's
