"""Failed credentials per client address (#26): a guesser gets 429, not endless tries.

Only failures count: a bad or revoked bearer token on `/api`, a refused dashboard sign-in. Past
PROVISIONER_AUTH_FAILURE_LIMIT (e.g. `30/minute`) from one address, the next credential check from
it is refused with 429 and Retry-After before the token is even looked up, until the window moves
on; good tokens from other addresses are untouched. The address is the ASGI client, which is the
proxy's forwarded one only under `serve --proxy-headers` with the proxy in
`--forwarded-allow-ips`. The counts live in this process's memory (`limits`' moving window).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

SETTING = "PROVISIONER_AUTH_FAILURE_LIMIT"


class FailureThrottle:
    def __init__(self, rate: str):
        try:
            self.items: list[Any] = list(parse_many(rate)) if rate.strip() else []
        except ValueError:
            raise ValueError(f"{SETTING} must look like '30/minute' (got {rate!r})") from None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def wait_seconds(self, address: str) -> int | None:
        """Seconds until `address` may try again, None when it may now."""
        for item in self.items:
            if not self.limiter.test(item, "auth-failure", address):
                reset, _remaining = self.limiter.get_window_stats(item, "auth-failure", address)
                return max(1, math.ceil(reset - time.time()))
        return None

    def failed(self, address: str) -> None:
        for item in self.items:
            self.limiter.hit(item, "auth-failure", address)

    def message(self, wait: int) -> str:
        return (
            f"Too many failed sign-ins or tokens from this address ({SETTING}); "
            f"retry after {wait} s"
        )


def client_address(scope: Mapping[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
