"""What one token may hold open or churn (#26): open event streams, and state toggles.

- Open streams: at most PROVISIONER_MAX_STREAMS_PER_TOKEN Server-Sent Event streams per token
  at once, API and dashboard together, in this process (one user's 29 streams made every other
  client of `--limit-concurrency 30` get 503); the next one is a 429.
- Revocation: a stream asks `still_valid` at least every REVOCATION_CHECK_SECONDS; the answer is
  one ledger read per token per interval, shared by that token's streams, so a token revoked from
  anywhere (the CLI, another replica) ends its streams within a second.
- State toggles: `POST /status` moves per token are held to PROVISIONER_STATUS_CHANGE_LIMIT (1,595
  RUNNING/READY events in 30 s filled the ledger and woke every stream).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool

from provisioner.ledger.tokens import Principal
from provisioner.rules.errors import ProvisionerError

REVOCATION_CHECK_SECONDS = 0.25


class RateLimitedError(ProvisionerError):
    code = "RATE_LIMITED"


@dataclass
class Ticket:
    """One open stream; `release` is idempotent (a stream that never started is released too)."""

    limits: StreamLimits
    token_id: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.limits._release(self.token_id)


@dataclass
class StreamLimits:
    per_token: int
    is_active: Callable[[str], bool]
    toggle_rate: str = ""
    _open: dict[str, int] = field(default_factory=dict)
    _checked: dict[str, tuple[float, bool]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._toggle_items = list(parse_many(self.toggle_rate)) if self.toggle_rate.strip() else []
        self._toggles = MovingWindowRateLimiter(MemoryStorage())

    def open(self, principal: Principal) -> Ticket:
        with self._lock:
            count = self._open.get(principal.token_id, 0)
            if count >= self.per_token:
                raise RateLimitedError(
                    f"This token already has {count} event streams open "
                    f"(PROVISIONER_MAX_STREAMS_PER_TOKEN={self.per_token}); close one first"
                )
            self._open[principal.token_id] = count + 1
        return Ticket(self, principal.token_id)

    def open_count(self, token_id: str) -> int:
        with self._lock:
            return self._open.get(token_id, 0)

    def _release(self, token_id: str) -> None:
        with self._lock:
            left = self._open.get(token_id, 0) - 1
            if left > 0:
                self._open[token_id] = left
            else:
                self._open.pop(token_id, None)
                self._checked.pop(token_id, None)

    async def still_valid(self, token_id: str) -> bool:
        """Whether the token is unrevoked, read at most once per REVOCATION_CHECK_SECONDS."""
        now = time.monotonic()
        with self._lock:
            checked = self._checked.get(token_id)
        if checked is not None and now - checked[0] < REVOCATION_CHECK_SECONDS:
            return checked[1]
        active = await run_in_threadpool(self.is_active, token_id)
        with self._lock:
            self._checked[token_id] = (time.monotonic(), active)
        return active

    def toggle(self, principal: Principal) -> None:
        """Count one RUNNING/READY move; RateLimitedError past the per-token rate."""
        for item in self._toggle_items:
            if not self._toggles.hit(item, "toggle", principal.token_id):
                reset, _ = self._toggles.get_window_stats(item, "toggle", principal.token_id)
                wait = max(1, math.ceil(reset - time.time()))
                raise RateLimitedError(
                    f"Too many status changes for this token: the limit is {item} "
                    f"(PROVISIONER_STATUS_CHANGE_LIMIT); retry after {wait} s"
                )
