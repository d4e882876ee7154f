"""Figures for #10: how fast an unauthenticated 200 MB body and an authenticated endless chunked
body are refused by a real `provisioner serve`, and how much the server's RSS grows. Prints only.

    .venv/bin/python bench/hostile_clients.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hardening"))

from serving import start_replicas, stop
from test_hostile_clients import (
    MB,
    connect,
    rss_bytes,
    send_body_until_answered,
    status_of,
)

from provisioner.config import Settings
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.tokens import Tokens


def main() -> None:
    home = Path(tempfile.mkdtemp()) / "home"
    settings = Settings(home=home)
    settings.ensure_home()
    ledger = Ledger(settings.effective_database_url)
    token, _ = Tokens(ledger, lambda: datetime.now(UTC)).create("bench")
    ledger.dispose()
    [server] = start_replicas(home, None, 1)
    try:
        for label, auth, chunked in (
            ("unauthenticated 200 MB (Content-Length)", "", False),
            ("authenticated endless chunked body", f"Authorization: Bearer {token}\r\n", True),
        ):
            before = rss_bytes(server.process.pid)
            framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {200 * MB}"
            head = (
                f"POST /api/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"{auth}{framing}\r\n\r\n"
            ).encode()
            started = time.monotonic()
            with connect(server.base) as sock:
                answer = send_body_until_answered(sock, head, 200 * MB, chunked=chunked)
            elapsed = (time.monotonic() - started) * 1000
            growth = (rss_bytes(server.process.pid) - before) / MB
            print(
                f"{label}: HTTP {status_of(answer)} after {elapsed:.1f} ms; "
                f"server RSS {before / MB:.0f} MB, growth {growth:+.1f} MB"
            )
    finally:
        stop([server])


if __name__ == "__main__":
    main()
