"""Live pages: a Server-Sent Events stream per page that says "changed" when what the page shows
moved (a status, a time, a cent of cost); the page's script then fetches the server-rendered
fragment again. Signed in by the session cookie (EventSource cannot send a bearer header).

The instance stream wakes on the service's events for that instance (the API's EventHub); the
fleet stream looks again every FLEET_POLL_SECONDS. The instance stream ends once the instance is
final. Every stream also ends after STREAM_SECONDS and the browser's EventSource reconnects
(after `retry`), starting with a "change" that refreshes ages and countdowns: so an open
dashboard never holds up a server's shutdown (uvicorn waits for open responses) for longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from provisioner.api.auth import owned_instance
from provisioner.api.state import ApiState, get_state
from provisioner.rules.errors import ProvisionerError
from provisioner.rules.lifecycle import FINAL, Status
from provisioner.web import session as sessions
from provisioner.web.fleet import fingerprint, fleet_page
from provisioner.web.pages import Filters, fleet_filter
from provisioner.web.session import Session

router = APIRouter(include_in_schema=False)
State = Annotated[ApiState, Depends(get_state)]
MaybeSignedIn = Annotated[Session | None, Depends(sessions.current)]
POLL_SECONDS = 1.0
FLEET_POLL_SECONDS = 2.0
STREAM_SECONDS = 15.0
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def changes(
    look: Callable[[], tuple[object, bool]],
    wake: asyncio.Event | None = None,
    *,
    poll_seconds: float = POLL_SECONDS,
) -> AsyncIterator[str]:
    """`look()` returns (what the page shows, whether it is final)."""
    yield "retry: 2000\n\n"
    seen: object = None
    closes_at = time.monotonic() + STREAM_SECONDS
    while time.monotonic() < closes_at:
        if wake is not None:
            wake.clear()
        shown, final = await run_in_threadpool(look)
        if shown != seen:
            # The first one too: the page may have been rendered just before a change.
            yield "event: change\ndata: {}\n\n"
            seen = shown
        if final:
            yield "event: end\ndata: {}\n\n"
            return
        if wake is None:
            await asyncio.sleep(poll_seconds)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=poll_seconds)


def _stream(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)


@router.get("/ui/stream/fleet")
def fleet_stream(state: State, session: MaybeSignedIn, query: Filters) -> Response:
    if session is None:
        return HTMLResponse("Signed out", status_code=401)
    wanted = fleet_filter(session, *query)

    def look() -> tuple[object, bool]:
        return fingerprint(fleet_page(state.service, wanted)), False

    return _stream(changes(look, poll_seconds=FLEET_POLL_SECONDS))


@router.get("/ui/stream/instances/{instance_id}")
def instance_stream(instance_id: str, state: State, session: MaybeSignedIn) -> Response:
    if session is None:
        return HTMLResponse("Signed out", status_code=401)
    try:
        owned_instance(state, session.principal, instance_id)
    except ProvisionerError as exc:
        return HTMLResponse(exc.message, status_code=404)

    def look() -> tuple[object, bool]:
        instance = state.service.get(instance_id)
        events = len(state.service.events(instance_id))
        shown = (instance.status, instance.updated_at, events, round(instance.total_cost, 2))
        return shown, Status(instance.status) in FINAL

    async def body() -> AsyncIterator[str]:
        entry = state.hub.subscribe(instance_id)
        try:
            async for frame in changes(look, entry[1]):
                yield frame
        finally:
            state.hub.unsubscribe(instance_id, entry)

    return _stream(body())
