"""What a hostile or careless client may cost the API, checked before any route runs (#10).

A pure ASGI middleware, so nothing is read that need not be. For every `/api` request:

1. the bearer token is checked first, before a byte of the body is read: 401 (the error
   envelope) for a missing, invalid or revoked token, even with a 200 MB or malformed body;
2. the token's request rate (PROVISIONER_RATE_LIMIT, e.g. `20/second`): 429 with Retry-After;
3. the body is read here while counting, up to PROVISIONER_MAX_BODY_BYTES: a declared
   Content-Length over it is refused unread, a chunked one as soon as the count passes it (413).

An early refusal says `Connection: close`, so the server stops reading the rest of the body. The
verified principal is handed to the routes in the ASGI scope's state (`auth.principal`).

Every other request that may carry a body (the dashboard's forms, `/signin` included: #26) is read
here the same way, without a token, up to PROVISIONER_MAX_BODY_BYTES. A failed bearer check counts
against the client address (`throttle.py`); past its limit the address gets 429 before its token is
looked up. A client that goes away mid-body (or is cut off by `serve --timeout-request`) ends the
request quietly: no route runs, nothing is logged but the server's one line.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from provisioner.api.errors import envelope
from provisioner.api.throttle import FailureThrottle, client_address
from provisioner.ledger.tokens import Principal
from provisioner.rules.errors import AuthenticationError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]

PRINCIPAL = "provisioner.principal"  # the key in scope["state"]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ClientGoneError(Exception):
    """The client closed the connection before its body arrived: nobody to answer."""


def parse_rate(rate: str) -> list[Any]:
    """PROVISIONER_RATE_LIMIT to `limits` items ('' for none); ValueError names the setting."""
    if not rate.strip():
        return []
    try:
        return list(parse_many(rate))
    except ValueError:
        raise ValueError(
            f"PROVISIONER_RATE_LIMIT must look like '20/second' or '100/minute;5/second' "
            f"(got {rate!r})"
        ) from None


class RefusedError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        verify: Callable[[str | None], Principal],
        max_body_bytes: int,
        rate_limit: str = "",
        body_limits: dict[str, tuple[int, str]] | None = None,
        throttle: FailureThrottle | None = None,
    ):
        self.app = app
        self.verify = verify
        self.max_body_bytes = max_body_bytes
        # A larger limit for one path (POST /api/jobs carries a workdir): (bytes, its setting).
        self.body_limits = body_limits or {}
        self.limits = parse_rate(rate_limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage()) if self.limits else None
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guarded = (
            scope["type"] == "http"
            and (scope["path"] == "/api" or scope["path"].startswith("/api/"))
            and scope["method"] != "OPTIONS"
        )
        if not guarded:
            if scope["type"] == "http" and scope["method"] in BODY_METHODS:
                await self._read_then_run(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope)
            self._rate(principal)
            body = await self._read_body(scope, receive)
        except RefusedError as refusal:
            await _refuse(send, refusal)
            return
        except ClientGoneError:
            return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        await self.app(scope, _replay(body, receive), send)

    async def _read_then_run(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await self._read_body(scope, receive)
        except RefusedError as refusal:
            await _refuse(send, refusal)
            return
        except ClientGoneError:
            return
        await self.app(scope, _replay(body, receive), send)

    async def _authenticate(self, scope: Scope) -> Principal:
        address = client_address(scope)
        if self.throttle is not None and (wait := self.throttle.wait_seconds(address)):
            raise RefusedError(
                429, "RATE_LIMITED", self.throttle.message(wait), {"Retry-After": str(wait)}
            )
        token = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, credentials = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and credentials.strip():
                    token = credentials.strip()
                break
        try:
            return await anyio.to_thread.run_sync(self.verify, token)
        except AuthenticationError as exc:
            if self.throttle is not None:
                self.throttle.failed(address)
            raise RefusedError(401, exc.code, exc.message, {"WWW-Authenticate": "Bearer"}) from None

    def _rate(self, principal: Principal) -> None:
        if self.limiter is None:
            return
        for item in self.limits:
            if not self.limiter.hit(item, "token", principal.token_id):
                reset, _remaining = self.limiter.get_window_stats(item, "token", principal.token_id)
                wait = max(1, math.ceil(reset - time.time()))
                raise RefusedError(
                    429,
                    "RATE_LIMITED",
                    f"Too many requests for this token: the limit is {item} "
                    f"(PROVISIONER_RATE_LIMIT); retry after {wait} s",
                    {"Retry-After": str(wait)},
                )

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit, setting = self.body_limits.get(
            scope["path"], (self.max_body_bytes, "PROVISIONER_MAX_BODY_BYTES")
        )
        too_large = RefusedError(
            413, "PAYLOAD_TOO_LARGE", f"Request body is larger than {limit} bytes ({setting})"
        )
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0  # the server (h11) refuses a malformed length itself
                if declared > limit:
                    raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientGoneError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read here, then the client's own messages (a disconnect, for streams)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send: Send, refusal: RefusedError) -> None:
    payload = json.dumps(envelope(refusal.code, refusal.message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
        *((k.lower().encode(), v.encode()) for k, v in refusal.headers.items()),
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
