"""API latency over big ledgers, SQLite and PostgreSQL, against raw SQL; a reaper sweep over many
active instances. Prints figures; asserts nothing.

For each database and size: bulk-load N rows created over 60 days (executemany in 20k batches;
`--live` of them live, default 1,000: a fleet's worth; the rest ended; 100 users) and build the
statistics rollups from them (`rollups.backfill`, as the migration does), then p50/p99 of GET one
instance, a page of one user's list (limit 50) and the fleet's stats through the real app
(in-process ASGI client, so no network in the figure); the statistics in-process
(`Provisioner.statistics`) fleet-wide, for one user, and for a 7-day window with partial first
and last days; and the old full-scan statistics (`Ledger.statistics_scan`) and the stats' three
aggregates as raw SQL on the same connection pool (the floors). Then an idle reaper sweep over N
active (READY, unexpired) rows: the cost of every sweep interval.

PostgreSQL runs when PROVISIONER_TEST_POSTGRES_URL (or --postgres URL) is set; each run uses a
fresh schema and drops it after.

Usage: .venv/bin/python bench/ledger_scale.py [--sizes 10000,100000,1000000] [--requests N]
"""

# bench: both-databases

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi.testclient import TestClient

from provisioner.asgi import create_app
from provisioner.config import Settings
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import Instance
from provisioner.ledger.rollups import backfill
from provisioner.ops.reaper import Reaper
from provisioner.ops.service import Provisioner

RAW_STATS = [
    "SELECT count(*), sum(CASE WHEN terminated_at IS NULL THEN 1 ELSE 0 END), "
    "sum(coalesce(compute_cost, cost_per_hour)), sum(coalesce(storage_cost, 0)) FROM instances",
    "SELECT provider, count(*) FROM instances GROUP BY provider",
    "SELECT instance_type, count(*) FROM instances GROUP BY instance_type",
]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rows(
    n: int, *, active: bool, now: datetime, live: int = 1000
) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(6)
    types = [("AWS", "g4dn.xlarge", "0.526"), ("AZURE", "Standard_NC6", "0.9")]
    batch: list[dict[str, Any]] = []
    for i in range(n):
        provider, itype, price = types[i % 2]
        created = now - timedelta(minutes=rng.randrange(1, 60 * 24 * 60))
        ended = not active and (live == 0 or i % max(1, n // live) != 0)
        cost = Decimal(price) * Decimal(rng.randrange(1, 120)) / 60
        batch.append(
            {
                "id": f"inst-{i:012x}",
                "user_id": f"user-{i % 100}",
                "task_id": None,
                "provider": provider,
                "instance_type": itype,
                "region": "us-east-1" if provider == "AWS" else "eastus",
                "status": "TERMINATED" if ended else "READY",
                "disk_size_gb": 100,
                "auto_terminate_minutes": 60,
                "cost_per_hour": Decimal(price),
                "total_cost": cost if ended else None,
                "compute_cost": cost if ended else None,
                "storage_cost": Decimal(0) if ended else None,
                "tags": {},
                "metadata": {},
                "allowed_ssh_cidrs": [],
                "engine": "simulated",
                "stack_name": f"inst-{i:012x}",
                "created_at": now if active else created,
                "expires_at": (now if active else created) + timedelta(hours=1),
                "hard_deadline": (now if active else created) + timedelta(hours=4),
                "terminated_at": created + timedelta(minutes=30) if ended else None,
                "updated_at": created,
                "destroy_attempts": 0,
            }
        )
        if len(batch) == 20_000:
            yield batch
            batch = []
    if batch:
        yield batch


@contextmanager
def database(kind: str, postgres: str | None, home: Path) -> Iterator[str]:
    if kind == "sqlite":
        path = home / f"bench-{time.monotonic_ns()}.db"
        yield f"sqlite:///{path}"
        return
    assert postgres is not None
    base = Settings(database_url=postgres).effective_database_url
    schema = f"bench_{os.getpid()}_{time.monotonic_ns() % 10**6}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{base}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def load(ledger: Ledger, n: int, *, active: bool, now: datetime, live: int = 1000) -> float:
    started = time.perf_counter()
    table = Instance.__table__  # type: ignore[attr-defined]
    for batch in rows(n, active=active, now=now, live=live):
        with ledger.engine.begin() as conn:
            conn.execute(sa.insert(table), batch)
    with ledger.engine.begin() as conn:
        backfill(conn, now)  # bulk rows bypass the transitions that keep the rollups
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    fn()  # warm
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def line(name: str, samples: list[float], floor: list[float] | None = None) -> str:
    p50, p99 = statistics.median(samples), percentile(samples, 0.99)
    text = f"  {name:<28} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms"
    if floor:
        text += f"  (raw SQL p50 {statistics.median(floor):7.1f} ms; ratio "
        text += f"{p50 / statistics.median(floor):4.2f}x)"
    return text


def api_figures(kind: str, url: str, home: Path, n: int, requests: int, live: int) -> None:
    now = datetime.now(UTC)
    ledger = Ledger(url)
    took = load(ledger, n, active=False, now=now, live=live)
    settings = Settings(home=home, engine="simulated", database_url=url)
    service = Provisioner(settings, ledger=ledger)
    app = create_app(settings, service=service, reaper=False, pickup=False)
    token, _ = app.state.api.tokens.create("ops", admin=True)
    user_token, _ = app.state.api.tokens.create("user-7")
    admin = {"Authorization": f"Bearer {token}"}
    user = {"Authorization": f"Bearer {user_token}"}
    print(f"{kind} {n:>9,} rows, {live:,} live (loaded in {took:.1f} s)")
    with TestClient(app) as client:

        def get(path: str, headers: dict[str, str]) -> Callable[[], Any]:
            def call() -> None:
                response = client.get(path, headers=headers)
                assert response.status_code == 200, response.text

            return call

        stats_requests = max(5, requests // 10) if n >= 1_000_000 else requests
        one = f"inst-{7:012x}"
        print(line("GET /api/instances/{id}", timed(get(f"/api/instances/{one}", user), requests)))
        print(
            line(
                "GET /api/instances?limit=50", timed(get("/api/instances?limit=50", user), requests)
            )
        )

        def raw() -> None:
            with ledger.engine.connect() as conn:
                for sql in RAW_STATS:
                    conn.exec_driver_sql(sql).all()

        floor = timed(raw, stats_requests)
        api = timed(get("/api/instances/stats", admin), stats_requests)
        print(line("GET /api/instances/stats (all)", api, floor))
    week = {"since": now - timedelta(days=9, hours=5), "until": now - timedelta(days=2, hours=3)}
    scan_runs = max(3, stats_requests // 4)
    scan = timed(lambda: ledger.statistics_scan(now=now), scan_runs)
    print(line("statistics, fleet", timed(service.statistics, requests), scan))
    print(line("statistics, one user", timed(lambda: service.statistics("user-7"), requests)))
    windowed_scan = timed(lambda: ledger.statistics_scan(now=now, **week), scan_runs)
    print(
        line(
            "statistics, 7-day window",
            timed(lambda: service.statistics(**week), requests),
            windowed_scan,
        )
    )
    print("  (ratios above: against the full-scan statistics, the pre-#16 query)")
    ledger.dispose()


def sweep_figures(kind: str, url: str, home: Path, n: int) -> None:
    now = datetime.now(UTC)
    ledger = Ledger(url)
    took = load(ledger, n, active=True, now=now)
    settings = Settings(home=home / f"sweep-{kind}", engine="simulated", database_url=url)
    service = Provisioner(settings, ledger=ledger, clock=lambda: now)
    reaper = Reaper(service)
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        result = reaper.sweep()
        samples.append((time.perf_counter() - t0) * 1000)
        assert result.expired == 0
    print(
        f"{kind} idle reaper sweep over {n:,} active instances (loaded in {took:.1f} s): "
        f"best {min(samples):.0f} ms, median {statistics.median(samples):.0f} ms"
    )
    ledger.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--sweep-size", type=int, default=100_000)
    parser.add_argument("--live", type=int, default=1000, help="live rows in each ledger")
    parser.add_argument("--postgres", default=os.environ.get("PROVISIONER_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
    if not args.postgres:
        print("PostgreSQL skipped: set PROVISIONER_TEST_POSTGRES_URL or --postgres")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for kind in kinds:
            for n in (int(s) for s in args.sizes.split(",")):
                with database(kind, args.postgres, home) as url:
                    api_figures(kind, url, home, n, args.requests, args.live)
            with database(kind, args.postgres, home) as url:
                sweep_figures(kind, url, home, args.sweep_size)


if __name__ == "__main__":
    main()
