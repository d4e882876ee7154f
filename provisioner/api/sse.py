"""Server-Sent Events for one instance's ledger events, live.

The stream replays the ledger's events (after `Last-Event-ID`), then waits. The service's event
handlers, which run on worker threads, wake waiting streams through `EventHub`; a short poll also
picks up changes made by other processes (the CLI, another server). Each SSE `id` is the event's
1-based position in the instance's history, so a reconnecting client resumes where it left off.
The stream ends after the instance reaches TERMINATED or FAILED.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool

from provisioner.ops.service import Provisioner
from provisioner.rules.lifecycle import FINAL, Status

POLL_SECONDS = 1.0
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
) -> AsyncIterator[str]:
    entry = hub.subscribe(instance_id)
    _loop, wake = entry
    sent = after
    quiet = 0.0
    try:
        yield "retry: 2000\n\n"
        while True:
            wake.clear()
            # The state first, then the events: when the state is final, the events read after
            # it include the final one (the other order can miss it: a race seen on PostgreSQL).
            instance = await run_in_threadpool(service.get, instance_id)
            events = await run_in_threadpool(service.events, instance_id)
            for position, event in enumerate(events[sent:], start=sent + 1):
                data = {"instanceId": instance_id, **event.to_json()}
                yield _frame(event.type, data, position)
            sent = max(sent, len(events))
            if Status(instance.status) in FINAL:
                yield _frame("end", {"instanceId": instance_id, "status": instance.status})
                return
            try:
                await asyncio.wait_for(wake.wait(), timeout=poll_seconds)
                quiet = 0.0
            except TimeoutError:
                quiet += poll_seconds
                if quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield ": keepalive\n\n"
    finally:
        hub.unsubscribe(instance_id, entry)
