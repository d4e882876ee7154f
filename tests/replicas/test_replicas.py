"""Several `provisioner serve` processes (real subprocesses on 127.0.0.1) share one PostgreSQL
ledger and one simulated Pulumi backend: requests are shared, none is lost when a replica is
killed, and two sweeps never stop one instance twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from apiclient import SEED_AWS_BODY, free_port
from factories import make_request
from serving import die_with_the_tests

from provisioner.config import Settings
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.tokens import Tokens
from provisioner.ops.reaper import Reaper
from provisioner.ops.service import Provisioner

SETTLED = ("READY", "RUNNING", "TERMINATED", "FAILED")


@dataclass
class Replica:
    process: subprocess.Popen[str]
    base: str


@pytest.fixture
def replicas(home: Path, database: str) -> Iterator[list[Replica]]:
    """Two replicas on the test's PostgreSQL schema and home (one simulated backend)."""
    env = {
        **os.environ,
        "PROVISIONER_HOME": str(home),
        "PROVISIONER_DATABASE_URL": database,
        "PROVISIONER_ENGINE": "simulated",
        "PROVISIONER_SIM_DELAY": "1.0",  # each up takes a second: work is in flight
        "PROVISIONER_MAX_PARALLEL": "6",
        "PROVISIONER_LEASE_SECONDS": "6",  # a dead replica's leases go stale quickly
        "PROVISIONER_PICKUP_INTERVAL_SECONDS": "0.2",
    }
    started: list[Replica] = []
    for _ in range(2):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "provisioner.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=die_with_the_tests,
        )
        started.append(Replica(process, f"http://127.0.0.1:{port}"))
    try:
        for replica in started:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{replica.base}/healthz")
                    break
                except httpx.TransportError:
                    assert replica.process.poll() is None, "serve exited"
                    assert time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.1)
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.terminate()
                replica.process.wait(30)


@pytest.fixture
def headers(database: str) -> dict[str, str]:
    ledger = Ledger(database)
    token, _ = Tokens(ledger, lambda: datetime.now(UTC)).create("user-123")
    ledger.dispose()
    return {"Authorization": f"Bearer {token}"}


def post_concurrently(replicas: list[Replica], headers: dict[str, str], n: int) -> list[str]:
    """`n` POSTs at once, alternating between the replicas; every one is accepted (202)."""

    def post(i: int) -> str:
        body = {**SEED_AWS_BODY, "taskId": f"task-{i}"}
        base = replicas[i % len(replicas)].base
        response = httpx.post(f"{base}/api/instances", json=body, headers=headers, timeout=60)
        assert response.status_code == 202, response.text
        return str(response.json()["instance"]["id"])

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(post, range(n)))


def wait_settled(base: str, headers: dict[str, str], ids: list[str]) -> dict[str, dict[str, Any]]:
    """Poll (bounded, not a timing assertion) until every instance has left its up."""
    deadline = time.monotonic() + 180
    while True:
        found = {
            i: httpx.get(f"{base}/api/instances/{i}", headers=headers, timeout=30).json()[
                "instance"
            ]
            for i in ids
        }
        if all(v["status"] in SETTLED for v in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def ready_events(base: str, headers: dict[str, str], instance_id: str) -> int:
    events = httpx.get(f"{base}/api/instances/{instance_id}/events", headers=headers).json()
    return sum(1 for e in events["events"] if e["status"] == "READY")


def test_concurrent_posts_across_two_replicas_each_reach_ready_once(replicas, headers):
    ids = post_concurrently(replicas, headers, 30)

    final = wait_settled(replicas[1].base, headers, ids)

    assert len(set(ids)) == 30
    assert {v["status"] for v in final.values()} == {"READY"}
    assert [ready_events(replicas[0].base, headers, i) for i in ids] == [1] * 30
    listed = httpx.get(f"{replicas[0].base}/api/instances", headers=headers).json()
    assert len(listed["instances"]) == 30


def test_a_replica_killed_mid_way_loses_no_accepted_request(replicas, headers):
    doomed, survivor = replicas
    ids = post_concurrently(replicas, headers, 30)
    # Kill one replica while ups run on it (each takes a second; 12 run at once).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        statuses = [
            httpx.get(f"{survivor.base}/api/instances/{i}", headers=headers).json()["instance"][
                "status"
            ]
            for i in ids[:6]
        ]
        if "READY" in statuses or "CONFIGURING" in statuses:
            break
        time.sleep(0.05)
    doomed.process.send_signal(signal.SIGKILL)
    doomed.process.wait(30)

    final = wait_settled(survivor.base, headers, ids)

    assert {v["status"] for v in final.values()} == {"READY"}
    assert [ready_events(survivor.base, headers, i) for i in ids] == [1] * 30


def test_two_sweeps_on_postgresql_stop_each_expired_instance_exactly_once(home, clock):
    settings = Settings(home=home, engine="simulated")
    service = Provisioner(settings, clock=clock)
    ids = [service.provision(make_request(auto_terminate_minutes=5)).id for _ in range(12)]
    clock.advance(minutes=6)
    sweepers = [Provisioner(settings, clock=clock) for _ in range(2)]
    results = []
    barrier = threading.Barrier(2)

    def sweep(sweeper: Provisioner) -> None:
        barrier.wait()
        results.append(Reaper(sweeper).sweep())

    threads = [threading.Thread(target=sweep, args=(s,)) for s in sweepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r.expired for r in results) == 12
    for instance_id in ids:
        events = service.events(instance_id)
        assert [e.status for e in events].count("STOPPING") == 1
        assert service.get(instance_id).status == "TERMINATED"
    for each in [service, *sweepers]:
        each.ledger.dispose()
