"""API latency (p50/p99) of GET one instance, list and stats while 16 simulated provisions run.

Serves the real app under uvicorn on 127.0.0.1 (real SQLite ledger, simulated engine with
PROVISIONER_SIM_DELAY per up so the provisions overlap the measurement), then measures from one
client. Prints figures; asserts nothing.

Usage: .venv/bin/python bench/api_latency.py [--requests N] [--sim-delay S] [--parallel P]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from provisioner.asgi import create_app
from provisioner.config import Settings

BODY = {
    "userId": "bench",
    "taskId": "bench-task",
    "config": {"provider": "AWS", "instanceType": "g4dn.xlarge", "region": "us-east-1"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300, help="per endpoint")
    parser.add_argument("--sim-delay", type=float, default=6.0)
    parser.add_argument("--parallel", type=int, default=16, help="PROVISIONER_MAX_PARALLEL")
    parser.add_argument("--provisions", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(
            home=Path(home),
            engine="simulated",
            sim_delay=args.sim_delay,
            max_parallel=args.parallel,
        )
        app = create_app(settings)
        token, _ = app.state.api.tokens.create("bench")
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120
        ) as client:
            first = client.post("/api/instances?wait=true", json=BODY).json()["instance"]["id"]
            ids = [
                client.post("/api/instances", json=BODY).json()["instance"]["id"]
                for _ in range(args.provisions)
            ]
            started = time.perf_counter()
            routes = {
                "GET /api/instances/{id}": f"/api/instances/{first}",
                "GET /api/instances": "/api/instances?userId=bench",
                "GET /api/instances/stats": "/api/instances/stats?userId=bench",
            }
            samples: dict[str, list[float]] = {name: [] for name in routes}
            busy_seen = 0
            for n in range(args.requests):
                for name, url in routes.items():
                    t0 = time.perf_counter()
                    response = client.get(url)
                    samples[name].append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200
                if n % 50 == 0:
                    busy_seen = max(busy_seen, client.get("/healthz").json()["workers"]["running"])
            measured = time.perf_counter() - started
            while any(
                client.get(f"/api/instances/{i}").json()["instance"]["status"] != "READY"
                for i in ids
            ):
                time.sleep(0.2)
            all_ready = time.perf_counter() - started
        server.should_exit = True
        thread.join()
        app.state.api.close()
    print(
        f"{args.provisions} simulated provisions (sim delay {args.sim_delay}s, "
        f"max parallel {args.parallel}); up to {busy_seen} running at once while measuring; "
        f"{args.requests} requests per endpoint over {measured:.1f}s; all READY after "
        f"{all_ready:.1f}s"
    )
    for name, values in samples.items():
        print(
            f"{name:<26} p50 {statistics.median(values):6.1f} ms   "
            f"p99 {percentile(values, 0.99):6.1f} ms   max {max(values):6.1f} ms"
        )


if __name__ == "__main__":
    main()
