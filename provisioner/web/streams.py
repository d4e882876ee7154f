"""Live pages: a Server-Sent Events stream per page that says "changed" when what the page shows
moved (a status, a time, a cent of cost); the page's script then fetches the server-rendered
fragment again. Signed in by the session cookie (EventSource cannot send a bearer header).

The instance stream wakes on the service's events for that instance (the API's EventHub); the
fleet stream looks again every FLEET_POLL_SECONDS. The instance stream ends once the instance is
final. Every stream also ends after STREAM_SECONDS and the browser's EventSource reconnects
(after `retry`), starting with a "change" that refreshes ages and countdowns: so an open
dashboard never holds up a server's shutdown (uvicorn waits for open responses) for longer.
Each stream counts against its token's PROVISIONER_MAX_STREAMS_PER_TOKEN (429 past it), and ends
with `signedout` within a second of the session's end or its token's revocation (#26).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from provisioner.api.auth import owned_instance
from provisioner.api.state import ApiState, get_state
from provisioner.api.stream_limits import RateLimitedError, Ticket
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
CHECK_SECONDS = 0.25  # how often a stream asks whether its session still holds
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def changes(
    look: Callable[[], tuple[object, bool]],
    wake: asyncio.Event | None = None,
    *,
    poll_seconds: float = POLL_SECONDS,
    still_valid: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[str]:
    """`look()` returns (what the page shows, whether it is final). `still_valid` is asked at
    least every CHECK_SECONDS: a revoked session's stream ends within a second (#26)."""
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
        waited = 0.0
        while waited < poll_seconds:
            step = min(CHECK_SECONDS, poll_seconds - waited)
            if wake is None:
                await asyncio.sleep(step)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=step)
            waited += step
            if still_valid is not None and not await still_valid():
                yield "event: signedout\ndata: {}\n\n"
                return
            if wake is not None and wake.is_set():
                break


def _stream(body: AsyncIterator[str], ticket: Ticket) -> StreamingResponse:
    async def released() -> AsyncIterator[str]:
        try:
            async for frame in body:
                yield frame
        finally:
            ticket.release()

    return StreamingResponse(
        released(),
        media_type="text/event-stream",
        headers=HEADERS,
        background=BackgroundTask(ticket.release),  # also when the body never started
    )


def _open(state: ApiState, session: Session) -> tuple[Ticket, Callable[[], Awaitable[bool]]]:
    """The stream's place under the token's cap (RateLimitedError past it), and its check."""
    ticket = state.streams.open(session.principal)

    async def still_valid() -> bool:
        return await state.streams.still_valid(session.principal.token_id)

    return ticket, still_valid


def _too_many(exc: ProvisionerError) -> Response:
    return HTMLResponse(exc.message, status_code=429)


def polled_stream(
    state: ApiState, session: Session, look: Callable[[], tuple[object, bool]], poll_seconds: float
) -> Response:
    """A page's live stream that polls `look`: under the token's stream cap (429 past it), ended
    by a revocation (#26)."""
    try:
        ticket, still_valid = _open(state, session)
    except RateLimitedError as exc:
        return _too_many(exc)
    return _stream(changes(look, poll_seconds=poll_seconds, still_valid=still_valid), ticket)


@router.get("/ui/stream/fleet")
def fleet_stream(state: State, session: MaybeSignedIn, query: Filters) -> Response:
    if session is None:
        return HTMLResponse("Signed out", status_code=401)
    wanted = fleet_filter(session, *query)

    def look() -> tuple[object, bool]:
        return fingerprint(fleet_page(state.service, wanted)), False

    return polled_stream(state, session, look, FLEET_POLL_SECONDS)


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

    try:
        ticket, still_valid = _open(state, session)
    except RateLimitedError as exc:
        return _too_many(exc)

    async def body() -> AsyncIterator[str]:
        entry = state.hub.subscribe(instance_id)
        try:
            async for frame in changes(look, entry[1], still_valid=still_valid):
                yield frame
        finally:
            state.hub.unsubscribe(instance_id, entry)

    return _stream(body(), ticket)
