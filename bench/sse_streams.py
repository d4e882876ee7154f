"""Figures for #26: 40 Server-Sent Event streams held open by one user (5 tokens, 8 streams each:
PROVISIONER_MAX_STREAMS_PER_TOKEN) on a real `provisioner serve`, while another client measures
GET /healthz. Prints the other client's p50/p99 with and without the streams, and the server's
CPU over the window. Prints only.

    .venv/bin/python bench/sse_streams.py [--streams 40] [--probes 300]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from apiclient import SEED_AWS_BODY
from serving import start_replicas, stop

from provisioner.config import Settings
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.tokens import Tokens


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def probe(base: str, count: int) -> list[float]:
    times = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            client.get("/healthz")
            times.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    return times


def figures(label: str, times: list[float], cpu: float, seconds: float) -> None:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(
        f"{label}: /healthz p50 {statistics.median(times):.1f} ms, p99 {p99:.1f} ms "
        f"({len(times)} probes); server CPU {100 * cpu / seconds:.0f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--probes", type=int, default=300)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp()) / "home"
    settings = Settings(home=home)
    settings.ensure_home()
    ledger = Ledger(settings.effective_database_url)
    tokens = Tokens(ledger, lambda: datetime.now(UTC))
    per_token = 8
    owned = [tokens.create("streamer")[0] for _ in range((args.streams + per_token - 1) // 8)]
    ledger.dispose()
    [server] = start_replicas(
        home, None, 1, PROVISIONER_MAX_STREAMS_PER_TOKEN=str(per_token), PROVISIONER_SIM_DELAY="0"
    )
    stop_streams = threading.Event()
    headers = {"Authorization": f"Bearer {owned[0]}"}
    instance_id = None
    try:
        created = httpx.post(
            f"{server.base}/api/instances?wait=true",
            json={**SEED_AWS_BODY, "userId": "streamer"},
            headers=headers,
        )
        assert created.status_code < 300, created.text
        instance_id = created.json()["instance"]["id"]
        url = f"{server.base}/api/instances/{instance_id}/events"
        for _ in range(20):  # some history for every stream to (not) re-read
            for status in ("RUNNING", "READY"):
                httpx.post(
                    url.replace("/events", "/status"), json={"status": status}, headers=headers
                )

        started = time.monotonic()
        cpu = cpu_seconds(server.process.pid)
        quiet = probe(server.base, args.probes)
        figures(
            "no streams",
            quiet,
            cpu_seconds(server.process.pid) - cpu,
            time.monotonic() - started,
        )

        opened = threading.Semaphore(0)
        codes: list[int] = []

        def hold(token: str) -> None:
            auth = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
            with httpx.Client(timeout=None) as client, client.stream("GET", url, headers=auth) as s:
                codes.append(s.status_code)
                opened.release()
                for _line in s.iter_lines():
                    if stop_streams.is_set():
                        return

        threads = [
            threading.Thread(target=hold, args=(owned[i // per_token],), daemon=True)
            for i in range(args.streams)
        ]
        for thread in threads:
            thread.start()
        for _ in threads:
            opened.acquire(timeout=30)
        time.sleep(2)  # the streams replayed their history; now they idle and poll
        started = time.monotonic()
        cpu = cpu_seconds(server.process.pid)
        busy = probe(server.base, args.probes)
        figures(
            f"{codes.count(200)} streams open by one user",
            busy,
            cpu_seconds(server.process.pid) - cpu,
            time.monotonic() - started,
        )
    finally:
        stop_streams.set()
        if instance_id is not None:  # its simulated VM (an sshd) must not outlive the bench
            httpx.delete(f"{server.base}/api/instances/{instance_id}?wait=true", headers=headers)
        stop([server])
        shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
