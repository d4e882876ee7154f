"""Running the app under uvicorn with every connection bounded (#10).

uvicorn closes a keep-alive connection that sits idle after a response (`timeout_keep_alive`) and
answers 503 past `limit_concurrency` connections or tasks, but it waits for ever on a connection
that never finishes sending its request (silent, or stuck mid-headers or mid-body). The h11
protocol here adds that timer: a request must arrive whole within `request_timeout` seconds of
the connection opening (or of its first byte after a keep-alive pause), or the connection closes,
with one log line naming the client (#26: not tracebacks of the route that was reading).

h11's `max_incomplete_event_size` bounds only headers that arrive in pieces: a 60 KB head in one
read passed `--max-header-bytes 16384` (#26). `HeaderLimit` counts the request line and headers
of every request and answers 431 past the limit, before any route runs.

`--proxy-headers` turns on uvicorn's X-Forwarded-For/-Proto handling for the addresses in
`--forwarded-allow-ips` (a TLS proxy in front: the app then sees `https` and the client's address).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

# How long a request may take to arrive once its connection is open (or its first byte came).
DEFAULT_REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class ConnectionLimits:
    keep_alive_seconds: int = 5
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT
    limit_concurrency: int | None = 1000
    max_header_bytes: int = 16 * 1024
    proxy_headers: bool = False
    forwarded_allow_ips: str | None = None


class HeaderLimit:
    """431 for a request whose line and headers exceed `max_bytes` (as sent: name: value CRLF)."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 16
            size += sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))
            if size > self.max_bytes:
                await _too_large_headers(send, self.max_bytes)
                return
        await self.app(scope, receive, send)


async def _too_large_headers(send: Any, limit: int) -> None:
    payload = json.dumps(
        {
            "success": False,
            "error": {
                "code": "HEADERS_TOO_LARGE",
                "message": f"Request line and headers exceed {limit} bytes (--max-header-bytes)",
            },
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 431, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request does not arrive in time."""

    request_timeout: float = DEFAULT_REQUEST_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._request_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE or self.conn.their_state is h11.SEND_BODY:
            if self._request_timer is None:
                self._arm()  # the first byte of a request after a keep-alive pause
        else:
            self._disarm()  # the request is in (or the connection is ending)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._request_timer = self.loop.call_later(self.request_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _timed_out(self) -> None:
        self._request_timer = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            what = "its body" if self.conn.their_state is h11.SEND_BODY else "its request"
            self.logger.warning(
                "request timeout: closed the connection from %s, %s did not arrive within %g s",
                client,
                what,
                self.request_timeout,
            )
            self.transport.close()


def run(app: Any, *, host: str, port: int, log_level: str, limits: ConnectionLimits) -> None:
    protocol = type(
        "BoundedH11Protocol",
        (BoundedH11Protocol,),
        {"request_timeout": limits.request_timeout_seconds},
    )
    config = uvicorn.Config(
        HeaderLimit(app, limits.max_header_bytes),
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=limits.proxy_headers,
        forwarded_allow_ips=limits.forwarded_allow_ips,
        http=protocol,
        timeout_keep_alive=limits.keep_alive_seconds,
        limit_concurrency=limits.limit_concurrency,
        h11_max_incomplete_event_size=limits.max_header_bytes,
    )
    uvicorn.Server(config).run()
