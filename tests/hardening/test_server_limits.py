"""Where a real `provisioner serve` reads, it reads within limits (#26, point 4 and point 11):
a 200 MB `/signin` is refused from its Content-Length or after the limit with the server's memory
flat, heads over `--max-header-bytes` are refused however they arrive, failed sign-ins and bearer
checks from one address are throttled, and a half-sent request cut off by the timeout is one log
line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from apiclient import free_port
from hardening.test_hostile_clients import (
    MB,
    connect,
    rss_bytes,
    send_body_until_answered,
    status_of,
)
from serving import Replica, die_with_the_tests, start_replicas, stop

from provisioner.config import Settings
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.tokens import Tokens


@pytest.fixture
def token(home: Path, database: str | None) -> str:
    settings = Settings(home=home, database_url=database)
    settings.ensure_home()
    ledger = Ledger(settings.effective_database_url)
    token, _ = Tokens(ledger, lambda: datetime.now(UTC)).create("user-123")
    ledger.dispose()
    return token


@pytest.fixture
def server(home: Path, database: str | None, token: str) -> Iterator[Replica]:
    [replica] = start_replicas(
        home, database, 1, "--timeout-request", "30", PROVISIONER_AUTH_FAILURE_LIMIT="5/minute"
    )
    yield replica
    stop([replica])


SIGNIN = b"POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"


def test_200_mb_to_signin_is_refused_from_its_length_and_after_the_limit(server: Replica):
    before = rss_bytes(server.process.pid)
    with connect(server.base) as sock:
        declared = send_body_until_answered(
            sock, SIGNIN + f"Content-Length: {200 * MB}\r\n\r\n".encode(), 200 * MB, chunked=False
        )
    with connect(server.base) as sock:
        streamed = send_body_until_answered(
            sock, SIGNIN + b"Transfer-Encoding: chunked\r\n\r\n", 200 * MB, chunked=True
        )
    growth = rss_bytes(server.process.pid) - before

    assert status_of(declared) == 413
    assert status_of(streamed) == 413
    assert b"PROVISIONER_MAX_BODY_BYTES" in streamed
    assert growth < 10 * MB, f"RSS grew {growth / MB:.1f} MB"
    print(f"RSS growth over two 200 MB sign-ins: {growth / MB:.1f} MB")


@pytest.mark.parametrize("size", [20 * 1024, 60 * 1024])
def test_heads_over_max_header_bytes_are_refused(server: Replica, size: int):
    with connect(server.base) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
        )  # one write: h11's own limit saw only incomplete heads
        answer = sock.recv(65536)

    assert status_of(answer) in (400, 431)
    assert httpx.get(f"{server.base}/healthz", headers={"X-Small": "a" * 1000}).status_code == 200


def test_failed_sign_ins_and_bearer_checks_are_throttled_per_address(server: Replica, token):
    with httpx.Client(base_url=server.base, headers={"Origin": server.base}) as client:
        signins = [client.post("/signin", data={"token": "nope"}).status_code for _ in range(3)]
        bearers = [
            client.get("/api/instances", headers={"Authorization": "Bearer nope"}).status_code
            for _ in range(2)
        ]
        throttled_bearer = client.get("/api/instances", headers={"Authorization": "Bearer nope"})
        throttled_signin = client.post("/signin", data={"token": token})

    assert signins == [401] * 3
    assert bearers == [401] * 2
    assert throttled_bearer.status_code == 429
    assert throttled_bearer.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(throttled_bearer.headers["Retry-After"]) <= 60
    # Past the limit even a good token is not looked up from this address for a while.
    assert throttled_signin.status_code == 429
    assert "PROVISIONER_AUTH_FAILURE_LIMIT" in throttled_signin.text


def test_a_good_token_is_never_counted(server: Replica, token):
    headers = {"Authorization": f"Bearer {token}"}
    codes = {
        httpx.get(f"{server.base}/api/instances", headers=headers).status_code for _ in range(8)
    }

    assert codes == {200}


def test_a_half_sent_signin_cut_by_the_timeout_is_one_log_line(home: Path, tmp_path: Path):
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "PROVISIONER_HOME": str(home),
        "PROVISIONER_ENGINE": "simulated",
        "PROVISIONER_SERVE_REAPER": "false",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "provisioner.cli.main",
                "serve",
                *("--port", str(port)),
                *("--timeout-request", "1"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_the_tests,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            # Host and Origin agree: without the guard's read, the route itself waits for the
            # form (and the sign-in page's origin check does not answer first).
            host = f"127.0.0.1:{port}".encode()
            sock.sendall(
                SIGNIN.replace(b"Host: x", b"Host: " + host)
                + b"Origin: "
                + base.encode()
                + b"\r\nContent-Length: 100\r\n\r\nto"
            )
            assert sock.recv(4096) == b""  # closed by the server, unanswered
        time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(30)
    text = log.read_text()

    assert "Traceback" not in text
    assert "Exception in ASGI application" not in text
    lines = [line for line in text.splitlines() if "request timeout" in line]
    assert len(lines) == 1, text
    assert "127.0.0.1" in lines[0] and "did not arrive within 1 s" in lines[0]
