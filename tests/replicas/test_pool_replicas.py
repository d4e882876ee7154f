"""Jobs through two `provisioner serve` replicas (real subprocesses) on one PostgreSQL ledger
(#22): each replica's reaper thread runs the pools' scheduler, so both sweep the same pool and
claim from the same queue. 200 tiny jobs submitted through both each run exactly once, and a
replica killed with SIGKILL while jobs run changes neither.

"Ran once" is shown twice: by the ledger (one `job:started` event per job) and by the jobs
themselves (the simulated VM is this machine, so each job appends its number to one file of the
test's: a job that ran twice would be there twice)."""

from __future__ import annotations

import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from remote.conftest import LOCAL, needs_sshd
from serving import Replica, start_replicas, stop

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.tokens import Tokens

pytestmark = needs_sshd

JOBS = 200
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
CONFIG = {
    "provider": "AWS",
    "instanceType": "g4dn.xlarge",
    "region": "us-east-1",
    "diskSizeGB": 50,
    "autoTerminateMinutes": 120,
    "allowedSshCidrs": [LOCAL],
}


def bearer(database: str) -> dict[str, str]:
    ledger = Ledger(database)
    token, _ = Tokens(ledger, lambda: datetime.now(UTC)).create("user-123")
    ledger.dispose()
    return {"Authorization": f"Bearer {token}"}


def statuses(client: httpx.Client, base: str, headers: dict[str, str]) -> Counter[str]:
    jobs = client.get(f"{base}/api/jobs", params={"pool": "t4"}, headers=headers).json()["jobs"]
    return Counter(j["status"] for j in jobs)


@pytest.mark.timeout(900)  # 200 jobs over real SSH on a shared machine: minutes, not seconds
def test_two_replicas_run_each_of_200_jobs_once_even_when_one_is_killed(
    home: Path, database: str, tmp_path: Path
):
    headers = bearer(database)
    ran = tmp_path / "ran.txt"
    ran.touch()
    replicas: list[Replica] = start_replicas(
        home,
        database,
        2,
        PROVISIONER_SERVE_REAPER="true",
        PROVISIONER_REAP_INTERVAL_SECONDS="0.5",
        PROVISIONER_LEASE_SECONDS="3",  # a dead replica's claims go stale in 6 s
        PROVISIONER_SIM_ALLOW_USER_CODE="1",  # users' jobs on the simulated host (#26)
    )
    doomed, survivor = replicas
    try:
        with httpx.Client(timeout=120) as client:
            body = {"name": "t4", "config": CONFIG, "min": 2, "max": 3}
            made = client.post(f"{doomed.base}/api/pools", json=body, headers=headers)
            assert made.status_code == 201, made.text

            def submit(i: int) -> str:
                base = replicas[i % 2].base
                job = {"pool": "t4", "command": [f"echo {i} >> {ran}"], "taskId": f"job-{i}"}
                response = client.post(f"{base}/api/jobs", json=job, headers=headers)
                assert response.status_code == 201, response.text
                return str(response.json()["job"]["id"])

            with ThreadPoolExecutor(8) as threads:
                ids = list(threads.map(submit, range(JOBS)))
            assert len(set(ids)) == JOBS

            # Kill one replica while jobs run: some done, some still to do.
            deadline = time.monotonic() + 300
            while True:
                seen = statuses(client, survivor.base, headers)
                if seen["SUCCEEDED"] >= 20 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert 0 < seen["SUCCEEDED"] < JOBS, seen
            doomed.process.send_signal(signal.SIGKILL)
            doomed.process.wait(30)

            # Poll (bounded, not a timing assertion) until the survivor has ended them all.
            deadline = time.monotonic() + 900
            while True:
                seen = statuses(client, survivor.base, headers)
                if sum(seen[s] for s in FINAL) == JOBS or time.monotonic() > deadline:
                    break
                time.sleep(1)

            jobs: list[dict[str, Any]] = [
                client.get(f"{survivor.base}/api/jobs/{i}", headers=headers).json()["job"]
                for i in ids
            ]
            pool = client.get(f"{survivor.base}/api/pools/t4", headers=headers).json()["pool"]
    finally:
        stop(replicas)

    assert Counter(j["status"] for j in jobs) == {"SUCCEEDED": JOBS}
    started = [[e["type"] for e in j["events"]].count("job:started") for j in jobs]
    assert started == [1] * JOBS  # each job started once, none lost
    lines = ran.read_text().split()
    assert sorted(int(n) for n in lines) == list(range(JOBS))  # each ran exactly once
    assert len(pool["instances"]) <= 3
