"""Placement throughput of pools' jobs with two `provisioner serve` replicas on one ledger (#22).

Both replicas run their reaper (and so the pools' scheduler) every 0.5 s; N tiny jobs (`true`)
are submitted through both at once to a pool of --max VMs already warm. Prints jobs placed per
second (submit -> `job:starting`, the claim of a QUEUED job onto an IDLE VM) and jobs finished
per second (-> SUCCEEDED, the VM scrubbed between jobs), from the jobs' own ledger events.

Simulated engine over real SSH (the VMs are this machine's sshd): the figures are this project's
overhead per job (ledger claims, SSH start/poll/output/scrub), not a cloud's. A pool is swept by
one replica at a time (its lock), so a second replica adds no placement speed to one pool: it
takes over when the first dies. The ledger: PROVISIONER_DATABASE_URL (bench/run_all.sh sets it
for PostgreSQL), else a SQLite file shared by both.

Usage: python bench/pool_placement.py [--jobs N] [--max N] [--replicas N]
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

from provisioner.config import Settings
from provisioner.engine.simulated import sshd as sim_sshd
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.tokens import Tokens

CONFIG = {
    "provider": "AWS",
    "instanceType": "g4dn.xlarge",
    "region": "us-east-1",
    "diskSizeGB": 50,
    "autoTerminateMinutes": 60,
    "allowedSshCidrs": ["127.0.0.1/32"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(home: Path, count: int) -> list[tuple[subprocess.Popen[bytes], str]]:
    env = {
        **os.environ,
        "PROVISIONER_HOME": str(home),
        "PROVISIONER_ENGINE": "simulated",
        "PROVISIONER_SIM_DELAY": "0.2",
        "PROVISIONER_REAP_INTERVAL_SECONDS": "0.5",
        "PROVISIONER_SIM_ALLOW_USER_CODE": "1",
    }
    started = []
    for _ in range(count):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "provisioner.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append((process, f"http://127.0.0.1:{port}"))
    for process, base in started:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("serve did not start") from None
                time.sleep(0.1)
    return started


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--max", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()
    if sim_sshd.sshd_binary() is None:
        print("needs sshd (simulated VMs' SSH endpoints)")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        settings = Settings(home=home)
        settings.ensure_home()
        ledger = Ledger(settings.effective_database_url)
        token, _ = Tokens(ledger, lambda: datetime.now(UTC)).create("bench")
        ledger.dispose()
        headers = {"Authorization": f"Bearer {token}"}
        replicas = start(home, args.replicas)
        try:
            with httpx.Client(timeout=120) as client:
                first = replicas[0][1]
                name = f"bench-{secrets.token_hex(3)}"  # the ledger may be a reused one
                body = {"name": name, "config": CONFIG, "min": args.max, "max": args.max}
                client.post(f"{first}/api/pools", json=body, headers=headers).raise_for_status()
                while True:  # the pool warm: every VM IDLE
                    pool = client.get(f"{first}/api/pools/{name}", headers=headers).json()["pool"]
                    states = [i.get("poolState") for i in pool["instances"]]
                    if states.count("IDLE") == args.max:
                        break
                    time.sleep(0.5)

                def submit(i: int) -> str:
                    base = replicas[i % len(replicas)][1]
                    job = {"pool": name, "command": ["true"]}
                    response = client.post(f"{base}/api/jobs", json=job, headers=headers)
                    response.raise_for_status()
                    return str(response.json()["job"]["id"])

                began = time.monotonic()
                with ThreadPoolExecutor(8) as threads:
                    ids = list(threads.map(submit, range(args.jobs)))
                while True:
                    listed = client.get(
                        f"{first}/api/jobs", params={"pool": name}, headers=headers
                    ).json()["jobs"]
                    if all(j["status"] in ("SUCCEEDED", "FAILED") for j in listed):
                        break
                    if time.monotonic() - began > 1800:
                        print("gave up after 30 min")
                        return 1
                    time.sleep(1)
                jobs = [
                    client.get(f"{first}/api/jobs/{i}", headers=headers).json()["job"] for i in ids
                ]
        finally:
            for process, _ in replicas:
                process.terminate()
            for process, _ in replicas:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
            for folder in sim_sshd.existing(home):
                sim_sshd.stop(folder)
    events = [{e["type"]: stamp(e["at"]) for e in j["events"]} for j in jobs]
    submitted = min(e["job:queued"] for e in events)
    placed = max(e["job:starting"] for e in events)
    ended = max(max(e.values()) for e in events)
    waits = [(e["job:starting"] - e["job:queued"]).total_seconds() for e in events]
    ok = sum(1 for j in jobs if j["status"] == "SUCCEEDED")
    database = "PostgreSQL" if "postgresql" in settings.effective_database_url else "SQLite"
    print(
        f"{args.jobs} jobs, {args.replicas} replicas, pool of {args.max} warm VMs, {database}: "
        f"{ok} SUCCEEDED"
    )
    print(f"placed: {args.jobs / (placed - submitted).total_seconds():.2f} jobs/s")
    print(f"finished: {args.jobs / (ended - submitted).total_seconds():.2f} jobs/s")
    print(
        f"submit -> placed: p50 {statistics.median(waits):.1f} s, "
        f"p90 {statistics.quantiles(waits, n=10)[8]:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
