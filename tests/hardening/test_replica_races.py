"""Races between two real `provisioner serve` replicas on one ledger (SQLite file and PostgreSQL):
an Idempotency-Key makes exactly one instance, a budget admits exactly what it allows, and the
ups a SIGKILLed replica left queued end through `provisioner reap --once` alone (#10)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from apiclient import SEED_AWS_BODY
from serving import start_replicas, stop

from provisioner.config import Settings
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.tokens import Tokens
from provisioner.ops.service import Provisioner

TRIALS = 30


@pytest.fixture
def ledger(home: Path, database: str | None) -> Iterator[Ledger]:
    settings = Settings(home=home, database_url=database)
    settings.ensure_home()
    ledger = Ledger(settings.effective_database_url)
    yield ledger
    ledger.dispose()


def bearer(ledger: Ledger, user: str, *, admin: bool = False) -> dict[str, str]:
    token, _ = Tokens(ledger, lambda: datetime.now(UTC)).create(user, admin=admin)
    return {"Authorization": f"Bearer {token}"}


def at_once(calls: list[Any]) -> list[httpx.Response]:
    """Run the calls in threads released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> httpx.Response:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_one_idempotency_key_sent_to_two_replicas_at_once_makes_one_instance(
    home, database, ledger
):
    user = bearer(ledger, "user-123")
    replicas = start_replicas(home, database, 2)
    try:
        with httpx.Client(timeout=60) as client:

            def post(base: str, key: str, task: str) -> Any:
                headers = {**user, "Idempotency-Key": key}
                body = {**SEED_AWS_BODY, "taskId": task}
                return lambda: client.post(f"{base}/api/instances", json=body, headers=headers)

            outcomes = []
            for trial in range(TRIALS):
                key = f"trial-{trial}-{os.getpid()}"
                first, second = at_once([post(r.base, key, f"task-{trial}") for r in replicas])
                outcomes.append((first, second))
            listed = client.get(
                f"{replicas[0].base}/api/instances", params={"limit": 1000}, headers=user
            ).json()
    finally:
        stop(replicas)

    for first, second in outcomes:
        assert sorted([first.status_code, second.status_code]) == [200, 202], (
            first.text,
            second.text,
        )
        assert first.json()["instance"]["id"] == second.json()["instance"]["id"]
        replay = first if first.status_code == 200 else second
        assert replay.headers["Idempotent-Replayed"] == "true"
    assert listed["count"] == TRIALS
    assert len({i["taskId"] for i in listed["instances"]}) == TRIALS


def test_twenty_concurrent_requests_against_a_budget_of_five_admit_exactly_five(
    home, database, ledger
):
    admin = bearer(ledger, "ops", admin=True)
    user = bearer(ledger, "user-123")
    replicas = start_replicas(home, database, 2, PROVISIONER_SIM_DELAY="0.5")
    try:
        with httpx.Client(timeout=60) as client:
            budget = client.put(
                f"{replicas[0].base}/api/budgets/user-123",
                json={"maxInstances": 5},
                headers=admin,
            )
            assert budget.status_code == 200, budget.text

            def post(i: int) -> Any:
                base = replicas[i % 2].base
                body = {**SEED_AWS_BODY, "taskId": f"task-{i}"}
                return lambda: client.post(f"{base}/api/instances", json=body, headers=user)

            responses = at_once([post(i) for i in range(20)])
            listed = client.get(f"{replicas[1].base}/api/instances", headers=user).json()
    finally:
        stop(replicas)

    codes = [r.status_code for r in responses]
    assert codes.count(202) == 5, [r.text for r in responses]
    assert codes.count(402) == 15
    refused = next(r.json() for r in responses if r.status_code == 402)
    assert refused["error"]["code"] == "BUDGET_EXCEEDED"
    assert listed["count"] == 5


def test_ups_left_queued_by_a_killed_replica_end_through_reap_once_alone(home, database, ledger):
    user = bearer(ledger, "user-123")
    # One worker and a long up: the first request runs, the other three wait in the queue.
    [replica] = start_replicas(
        home,
        database,
        1,
        PROVISIONER_MAX_PARALLEL="1",
        PROVISIONER_SIM_DELAY="30",
        PROVISIONER_PICKUP_INTERVAL_SECONDS="30",
    )
    try:
        ids = []
        for i in range(4):
            response = httpx.post(
                f"{replica.base}/api/instances",
                json={**SEED_AWS_BODY, "taskId": f"task-{i}"},
                headers=user,
                timeout=60,
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["instance"]["id"])
    finally:
        replica.process.send_signal(signal.SIGKILL)
        replica.process.wait(30)
    queued = [ledger.require(i) for i in ids]
    assert sorted(i.operation or "" for i in queued) == ["queued", "queued", "queued", "up"]

    env = {**os.environ, "PROVISIONER_HOME": str(home), "PROVISIONER_ENGINE": "simulated"}
    if database is not None:
        env["PROVISIONER_DATABASE_URL"] = database
    reaped = subprocess.run(
        [sys.executable, "-m", "provisioner.cli.main", "reap", "--once", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert reaped.returncode == 0, reaped.stdout + reaped.stderr
    sweep = json.loads(reaped.stdout.strip().splitlines()[-1])
    assert sweep["recovered"] == 4
    assert sweep["orphans"] == 0
    final = {i: ledger.require(i) for i in ids}
    assert {i.status for i in final.values()} == {"FAILED"}
    assert all(i.terminated_at is not None for i in final.values())
    assert sorted(i.error_code or "" for i in final.values()).count("CANCELLED") == 3
    settings = Settings(home=home, database_url=database, engine="simulated")
    service = Provisioner(settings, ledger=ledger)
    stacks = service.engine_for("simulated").list_stacks()
    assert [s.name for s in stacks if s.resource_count] == []
    # Nothing queued counts against a budget any more.
    assert service.get(ids[1]).total_cost == 0
