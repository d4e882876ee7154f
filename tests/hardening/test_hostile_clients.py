"""Hostile or careless clients against a real `provisioner serve` on 127.0.0.1 (#10): huge and
endless bodies are refused before they are read (the server's memory barely moves), idle and
half-sent connections are closed, a flood from one token is rate limited, and too many
connections get 503."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from apiclient import SEED_AWS_BODY
from serving import Replica, start_replicas, stop

from provisioner.config import Settings
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.tokens import Tokens

MB = 1024 * 1024
CHUNK = b"x" * (256 * 1024)


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
        home,
        database,
        1,
        "--timeout-request",
        "1",
        "--timeout-keep-alive",
        "1",
        "--limit-concurrency",
        "20",
        PROVISIONER_RATE_LIMIT="30/minute",
    )
    yield replica
    stop([replica])


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def send_body_until_answered(
    sock: socket.socket, head: bytes, total: int, *, chunked: bool
) -> bytes:
    """Send the head, then up to `total` body bytes, until the server answers (or hangs up)."""
    sock.sendall(head)
    sent = 0
    answer = b""
    while sent < total:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            break
        piece = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n" if chunked else CHUNK
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(CHUNK)
    try:
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"):
                break
    except ConnectionResetError:
        pass
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> dict[str, object]:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def test_an_unauthenticated_200_mb_body_gets_401_unread(server: Replica):
    before = rss_bytes(server.process.pid)
    started = time.monotonic()
    with connect(server.base) as sock:
        head = (
            b"POST /api/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {200 * MB}\r\n\r\n".encode()
        )
        answer = send_body_until_answered(sock, head, 200 * MB, chunked=False)
    elapsed = time.monotonic() - started
    growth = rss_bytes(server.process.pid) - before

    assert status_of(answer) == 401
    assert body_of(answer)["error"]["code"] == "UNAUTHORIZED"  # type: ignore[index]
    assert growth < 20 * MB
    print(f"401 after {elapsed * 1000:.0f} ms; RSS growth {growth / MB:.1f} MB")


def test_an_authenticated_endless_chunked_body_gets_413_past_the_limit(server: Replica, token):
    before = rss_bytes(server.process.pid)
    with connect(server.base) as sock:
        head = (
            b"POST /api/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        answer = send_body_until_answered(sock, head, 200 * MB, chunked=True)
    growth = rss_bytes(server.process.pid) - before

    assert status_of(answer) == 413
    error = body_of(answer)["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"  # type: ignore[index]
    assert "65536" in error["message"]  # type: ignore[index]
    assert growth < 20 * MB


def test_a_declared_length_over_the_limit_is_refused_before_reading(server: Replica, token):
    with connect(server.base) as sock:
        head = (
            b"POST /api/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: {100 * MB}\r\n\r\n".encode()
        )
        answer = send_body_until_answered(sock, head, 0, chunked=False)

    assert status_of(answer) == 413


def test_malformed_json_without_a_token_is_a_401(server: Replica):
    response = httpx.post(
        f"{server.base}/api/instances",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_body_under_the_limit_still_provisions(server: Replica, token):
    response = httpx.post(
        f"{server.base}/api/instances",
        json=SEED_AWS_BODY,
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 202, response.text


def closed_by_server(sock: socket.socket) -> bool:
    """Wait (bounded by the socket's timeout) for the server to hang up."""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_silent_and_half_sent_connections_are_closed_within_the_timeout(server: Replica):
    # --timeout-request 1 and --timeout-keep-alive 1: each must be gone well within 6 s.
    silent = connect(server.base)
    partial = connect(server.base)
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    idle = connect(server.base)
    idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    half_body = connect(server.base)
    half_body.sendall(b"POST /api/instances HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    for sock in (silent, partial, idle, half_body):
        sock.settimeout(6)

    closed = {
        "silent": closed_by_server(silent),
        "partial headers": closed_by_server(partial),
        "idle keep-alive": closed_by_server(idle),
        "half a body": closed_by_server(half_body),
    }
    for sock in (silent, partial, idle, half_body):
        sock.close()

    assert closed == dict.fromkeys(closed, True)


def test_connections_beyond_the_concurrency_limit_get_503(home: Path, database: str | None):
    [replica] = start_replicas(
        home, database, 1, "--limit-concurrency", "5", "--timeout-request", "60"
    )
    held = [connect(replica.base) for _ in range(5)]
    try:
        response = httpx.get(f"{replica.base}/healthz")
    finally:
        for sock in held:
            sock.close()
        stop([replica])

    assert response.status_code == 503


def test_one_token_past_its_rate_gets_429_with_retry_after(server: Replica, token, home, database):
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base, headers=headers) as client:
        codes = [client.get("/api/instances").status_code for _ in range(31)]
        limited = client.get("/api/instances")
    settings = Settings(home=home, database_url=database)
    ledger = Ledger(settings.effective_database_url)
    other, _ = Tokens(ledger, lambda: datetime.now(UTC)).create("user-9")
    ledger.dispose()
    fresh = httpx.get(
        f"{server.base}/api/instances", headers={"Authorization": f"Bearer {other}"}
    ).status_code

    assert codes[:30] == [200] * 30
    assert codes[30] == 429
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert fresh == 200
