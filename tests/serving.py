"""Real `provisioner serve` processes on 127.0.0.1 for tests that need a real server."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from apiclient import free_port


def die_with_the_tests() -> None:
    """Popen's preexec_fn: the server gets SIGTERM when the test process dies (a killed pytest
    must not leave servers sweeping a shared test database). Linux prctl(PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


@dataclass
class Replica:
    process: subprocess.Popen[str]
    base: str


def start_replicas(
    home: Path, database: str | None, count: int, *args: str, **env: str
) -> list[Replica]:
    """`count` replicas sharing the home (and its SQLite ledger) or `database`; `args` are
    extra `serve` options, `env` extra PROVISIONER_* settings."""
    environment = {
        **os.environ,
        "PROVISIONER_HOME": str(home),
        "PROVISIONER_ENGINE": "simulated",
        "PROVISIONER_SIM_DELAY": "0.2",
        "PROVISIONER_MAX_PARALLEL": "4",
        "PROVISIONER_PICKUP_INTERVAL_SECONDS": "0.2",
        "PROVISIONER_SERVE_REAPER": "false",
        **env,
    }
    if database is not None:
        environment["PROVISIONER_DATABASE_URL"] = database
    started: list[Replica] = []
    for _ in range(count):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "provisioner.cli.main", "serve", "--port", str(port), *args],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=die_with_the_tests,
        )
        started.append(Replica(process, f"http://127.0.0.1:{port}"))
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
    return started


def stop(replicas: list[Replica]) -> None:
    for replica in replicas:
        if replica.process.poll() is None:
            replica.process.terminate()
            replica.process.wait(30)
