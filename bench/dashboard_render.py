"""The dashboard's fleet page over a 1k-instance ledger: server-side time to first render (the
first request after start, templates not yet compiled) and then p50/p99, and what the browser
downloads (HTML, gzip-compressed HTML, the CSS and script). Prints figures; asserts nothing.

Rows are bulk-loaded as in ledger_scale.py (90% ended, 10% live, 100 users). The admin's view
(everyone, newest first, 50 a page) and one user's view are measured through the real app
in-process (no network in the figure). PostgreSQL too when PROVISIONER_TEST_POSTGRES_URL is set.

Usage: .venv/bin/python bench/dashboard_render.py [--size 1000] [--requests 50]
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from ledger_scale import database, load, percentile

from provisioner.asgi import create_app
from provisioner.config import Settings
from provisioner.ledger.ledger import Ledger
from provisioner.ops.service import Provisioner
from provisioner.web.render import STATIC
from provisioner.web.session import COOKIE


def figures(kind: str, url: str, home: Path, size: int, requests: int) -> None:
    now = datetime.now(UTC)
    ledger = Ledger(url)
    load(ledger, size, active=False, now=now)
    ledger.dispose()
    settings = Settings(home=home, database_url=url, engine="simulated")
    service = Provisioner(settings)
    started = time.perf_counter()
    app = create_app(settings, service=service, reaper=False, pickup=False)
    with TestClient(app) as client:
        admin, _ = app.state.api.tokens.create("root", admin=True)
        user, _ = app.state.api.tokens.create("user-7")
        for who, token in (("admin (everyone)", admin), ("one user", user)):
            client.cookies.set(COOKIE, token)
            first = time.perf_counter()
            response = client.get("/")
            first_ms = (time.perf_counter() - first) * 1000
            assert response.status_code == 200, response.text
            samples = []
            for _ in range(requests):
                t = time.perf_counter()
                client.get("/")
                samples.append((time.perf_counter() - t) * 1000)
            body = response.content
            rows = body.count(b"<tr data-id=")
            print(
                f"{kind:10} {size} instances, {who:16}: first render {first_ms:6.1f} ms, "
                f"then p50 {percentile(samples, 0.5):5.1f} / p99 {percentile(samples, 0.99):5.1f}"
                f" ms; {rows} rows, {len(body) / 1024:.1f} KiB HTML "
                f"({len(gzip.compress(body)) / 1024:.1f} KiB gzip)"
            )
        client.cookies.clear()
    print(f"{kind:10} app start to last response: {time.perf_counter() - started:.2f} s")
    service.ledger.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    assets = {p.name: p.stat().st_size for p in sorted(STATIC.iterdir())}
    print("static assets: " + ", ".join(f"{n} {s / 1024:.1f} KiB" for n, s in assets.items()))
    postgres = os.environ.get("PROVISIONER_TEST_POSTGRES_URL")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for kind in ("sqlite", "postgresql") if postgres else ("sqlite",):
            with database(kind, postgres, home) as url:
                figures(kind, url, home, args.size, args.requests)


if __name__ == "__main__":
    main()
