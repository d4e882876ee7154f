"""Webhooks against a real HTTP receiver on 127.0.0.1: signing, retry, never blocking."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from apiclient import SEED_AZURE_BODY

from provisioner.api.app import instance_details
from provisioner.api.webhooks import WebhookSender, verify

SECRET = "whsec-test-0123456789"


@dataclass
class Receiver:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Status to answer for the n-th request (0-based); 200 past the end.
    script: list[int] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: predicate(self.requests), timeout=30)
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            me = box["receiver"]
            me.gate.wait(30)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with me.arrived:
                status = me.script[len(me.requests)] if len(me.requests) < len(me.script) else 200
                me.requests.append({"headers": dict(self.headers), "body": body, "status": status})
                me.arrived.notify_all()
            self.send_response(status)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    box["receiver"].gate.set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box["receiver"]
    box["receiver"].gate.set()
    server.shutdown()
    server.server_close()


def fast_sender(url: str, service, secret: str | None = SECRET) -> WebhookSender:
    return WebhookSender(
        [url],
        secret,
        backoff_seconds=0.01,
        max_backoff_seconds=0.05,
        enrich=instance_details(service),
    )


def events_of(requests: list[dict[str, Any]]) -> list[str]:
    return [r["headers"]["X-Provisioner-Event"] for r in requests if r["status"] == 200]


def test_events_reach_the_receiver_signed_and_in_order(make_api, service, receiver):
    api = make_api(service, app_options={"webhooks": fast_sender(receiver.url, service)})

    created = api.client.post("/api/instances?wait=true", json=SEED_AZURE_BODY, headers=api.user)
    got = receiver.wait_for(lambda r: len(r) >= 3)

    instance_id = created.json()["instance"]["id"]
    assert events_of(got)[:3] == ["instance:provisioning", "instance:configuring", "instance:ready"]
    for request in got:
        headers, body = request["headers"], request["body"]
        timestamp = headers["X-Provisioner-Timestamp"]
        expected = hmac.new(
            SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        assert headers["X-Provisioner-Signature"] == "sha256=" + expected
        assert verify(SECRET, body, timestamp, headers["X-Provisioner-Signature"])
        assert not verify("wrong-secret", body, timestamp, headers["X-Provisioner-Signature"])
        assert headers["Content-Type"] == "application/json"
        payload = json.loads(body)
        assert payload["event"] == headers["X-Provisioner-Event"]
        assert payload["deliveryId"] == headers["X-Provisioner-Delivery"]
        assert payload["instanceId"] == instance_id
        assert payload["userId"] == "user-123" and payload["taskId"] == "task-456"
    ready = json.loads(got[2]["body"])
    assert ready["status"] == "READY" and ready["instance"]["publicIp"]


def test_a_tampered_body_or_stale_timestamp_does_not_verify():
    body = b'{"event":"instance:ready"}'
    now = time.time()
    timestamp = str(int(now))
    signature = (
        "sha256="
        + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )

    assert verify(SECRET, body, timestamp, signature, now=now)
    assert not verify(SECRET, body + b" ", timestamp, signature, now=now)
    assert not verify(SECRET, body, timestamp, signature, now=now + 301)


def test_a_failing_receiver_gets_the_same_delivery_again_until_it_succeeds(service, receiver):
    receiver.script = [500, 503]
    sender = fast_sender(receiver.url, service)

    sender.send({"type": "instance:ready", "instanceId": "inst-000000000000", "status": "READY"})
    got = receiver.wait_for(lambda r: len(r) >= 3)
    sender.close()

    assert [r["status"] for r in got] == [500, 503, 200]
    deliveries = {r["headers"]["X-Provisioner-Delivery"] for r in got}
    assert len(deliveries) == 1  # one delivery, retried: receivers dedupe on its id
    assert {r["body"] for r in got} == {got[0]["body"]}


def test_a_receiver_that_refuses_with_4xx_is_not_retried(service, receiver, caplog):
    receiver.script = [400]
    sender = fast_sender(receiver.url, service)

    sender.send({"type": "instance:ready", "instanceId": "inst-000000000000", "status": "READY"})
    sender.send(
        {"type": "instance:running", "instanceId": "inst-000000000000", "status": "RUNNING"}
    )
    got = receiver.wait_for(lambda r: len(r) >= 2)
    sender.close()

    assert [(r["headers"]["X-Provisioner-Event"], r["status"]) for r in got] == [
        ("instance:ready", 400),
        ("instance:running", 200),
    ]
    assert "refused with HTTP 400" in caplog.text


def test_giving_up_is_logged(service, caplog):
    sender = WebhookSender(
        ["http://127.0.0.1:9/unreachable"], SECRET, attempts=2, backoff_seconds=0.01
    )
    sender.send({"type": "instance:error", "instanceId": "inst-x", "error": "boom"})
    sender.close()

    assert "failed after 2 attempts" in caplog.text


def test_a_stuck_receiver_never_blocks_provisioning(make_api, service, receiver):
    receiver.gate.clear()  # the receiver holds every request until released
    api = make_api(service, app_options={"webhooks": fast_sender(receiver.url, service)})

    created = api.client.post("/api/instances?wait=true", json=SEED_AZURE_BODY, headers=api.user)

    assert created.status_code == 201
    assert created.json()["instance"]["status"] == "READY"
    assert receiver.requests == []  # nothing delivered yet, and provisioning did not wait
    receiver.gate.set()
    got = receiver.wait_for(lambda r: len(r) >= 3)
    assert events_of(got)[:3] == ["instance:provisioning", "instance:configuring", "instance:ready"]


def test_without_a_secret_nothing_is_signed(service, receiver):
    sender = fast_sender(receiver.url, service, secret=None)

    sender.send({"type": "instance:ready", "instanceId": "inst-x", "status": "READY"})
    got = receiver.wait_for(lambda r: len(r) >= 1)
    sender.close()

    assert "X-Provisioner-Signature" not in got[0]["headers"]


def test_the_environment_configures_the_sender(home, receiver, monkeypatch):
    from provisioner.asgi import create_app
    from provisioner.config import Settings

    monkeypatch.setenv("PROVISIONER_WEBHOOK_URLS", f" {receiver.url} , ")
    monkeypatch.setenv("PROVISIONER_WEBHOOK_SECRET", SECRET)
    configured = Settings()
    app = create_app(configured)

    sender = app.state.api.webhooks
    assert [e.url for e in sender.endpoints] == [receiver.url]
    assert sender.secret == SECRET
    app.state.api.close()
