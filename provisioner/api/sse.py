"""Server-Sent Events for one instance's ledger events, live.

The stream replays the ledger's events (after `Last-Event-ID`), then waits. The service's event
handlers, which run on worker threads, wake waiting streams through `EventHub`; a short poll also
picks up changes made by other processes (the CLI, another server). Each SSE `id` is the event's
1-based position in the instance's history, so a reconnecting client resumes where it left off.
The stream ends after the instance reaches TERMINATED or FAILED, or within a second of its
token's revocation (a `revoked` frame). Each look reads only the events not yet sent; a token may
hold PROVISIONER_MAX_STREAMS_PER_TOKEN streams at once (`stream_limits.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from provisioner.ledger.models import EventOut
from provisioner.ops.service import Provisioner
from provisioner.rules.lifecycle import FINAL, Status

POLL_SECONDS = 1.0
STATE_EVERY = 5  # looks between reads of the instance's state (its events carry it)
CHECK_SECONDS = 0.25  # how often an idle stream asks whether its token still holds
KEEPALIVE_SECONDS = 15.0


class EventHub:
    """Wakes the streams watching an instance when the service emits one of its events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(set)
        )

    def publish(self, event: dict[str, Any]) -> None:
        instance_id = event.get("instanceId")
        with self._lock:
            waiting = list(self._waiting.get(str(instance_id), ()))
        for loop, wake in waiting:
            with contextlib.suppress(RuntimeError):  # that stream's loop has closed
                loop.call_soon_threadsafe(wake.set)

    def subscribe(self, instance_id: str) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting[instance_id].add(entry)
        return entry

    def unsubscribe(
        self, instance_id: str, entry: tuple[asyncio.AbstractEventLoop, asyncio.Event]
    ) -> None:
        with self._lock:
            waiting = self._waiting.get(instance_id)
            if waiting is not None:
                waiting.discard(entry)
                if not waiting:
                    del self._waiting[instance_id]


def _frame(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def parse_last_event_id(value: str | None) -> int:
    try:
        return max(0, int(value)) if value else 0
    except ValueError:
        return 0


async def stream_events(
    service: Provisioner,
    hub: EventHub,
    instance_id: str,
    *,
    after: int = 0,
    poll_seconds: float = POLL_SECONDS,
    still_valid: Callable[[], Awaitable[bool]] | None = None,
    on_close: Callable[[], None] | None = None,
) -> AsyncIterator[str]:
    """The frames; each look reads only the events past those sent (#26: every stream re-read
    the whole history each second). `still_valid` is asked at least every CHECK_SECONDS: when
    it says no (the token was revoked) the stream ends with a `revoked` frame."""
    entry = hub.subscribe(instance_id)
    _loop, wake = entry
    sent = after
    quiet = 0.0
    since_look = 0.0
    looks = 0
    try:
        yield "retry: 2000\n\n"
        look = True
        while True:
            if look:
                wake.clear()
                since_look = 0.0
                looks += 1
                # A look is one read of the new events: the status each carries says when the
                # instance is final. Every STATE_EVERY looks the state too, first (then the
                # events read after it include a final one: the race seen on PostgreSQL).
                final = None
                if looks % STATE_EVERY == 1:
                    instance = await run_in_threadpool(service.get, instance_id)
                    final = instance.status if Status(instance.status) in FINAL else None
                new = await run_in_threadpool(service.ledger.events, instance_id, skip=sent)
                for position, row in enumerate(new, start=sent + 1):
                    event = EventOut(type=row.type, status=row.status, at=row.at, detail=row.detail)
                    yield _frame(row.type, {"instanceId": instance_id, **event.to_json()}, position)
                    if Status(row.status) in FINAL:
                        final = row.status
                sent += len(new)
                if final is not None:
                    yield _frame("end", {"instanceId": instance_id, "status": final})
                    return
            step = min(poll_seconds, CHECK_SECONDS)
            try:
                await asyncio.wait_for(wake.wait(), timeout=step)
                quiet = 0.0
                look = True
            except TimeoutError:
                quiet += step
                since_look += step
                look = since_look >= poll_seconds
                if quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield ": keepalive\n\n"
            if still_valid is not None and not await still_valid():
                yield _frame("revoked", {"instanceId": instance_id})
                return
    finally:
        hub.unsubscribe(instance_id, entry)
        if on_close is not None:
            on_close()
