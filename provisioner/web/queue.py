"""The dashboard's Queue and Pools pages (#22), live like the fleet: each page's table sits in
#live, a stream says "change" when what it shows changed, and app.js fetches the table again.

Data through the API's own route functions with the signed-in user's principal, so the pages
follow exactly the API's rules: every pool is visible to every user (as on the CLI), jobs only
to their user (an admin sees everyone's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from provisioner.api import routes_jobs, routes_pools
from provisioner.api.state import ApiState, get_state
from provisioner.web import session as sessions
from provisioner.web.render import page
from provisioner.web.session import Session
from provisioner.web.streams import polled_stream

router = APIRouter(include_in_schema=False)
State = Annotated[ApiState, Depends(get_state)]
MaybeSignedIn = Annotated[Session | None, Depends(sessions.current)]
POLL_SECONDS = 2.0
ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")
RECENT = 50  # ended jobs shown under the queue


def queue_context(state: ApiState, session: Session) -> dict[str, Any]:
    jobs = routes_jobs.list_(session.principal, state)["jobs"]
    waiting = sorted(
        (j for j in jobs if j["status"] not in ENDED),
        key=lambda j: (j["pool"], j["position"] or 0, j["createdAt"] or "", j["id"]),
    )
    ended = sorted(
        (j for j in jobs if j["status"] in ENDED),
        key=lambda j: (j["endedAt"] or "", j["id"]),
        reverse=True,
    )[:RECENT]
    return {"session": session, "now": state.service.clock(), "waiting": waiting, "ended": ended}


def pools_context(state: ApiState, session: Session) -> dict[str, Any]:
    pools = routes_pools.list_(session.principal, state)["pools"]
    return {"session": session, "now": state.service.clock(), "pools": pools}


def _shown_queue(state: ApiState, session: Session) -> object:
    jobs = routes_jobs.list_(session.principal, state)["jobs"]
    return sorted((j["id"], j["status"], j["position"], j["waitReason"]) for j in jobs)


def _shown_pools(state: ApiState, session: Session) -> object:
    pools = routes_pools.list_(session.principal, state)["pools"]
    return sorted(
        (
            p["name"],
            p["status"],
            p["min"],
            p["max"],
            tuple(sorted((i["id"], i["status"], i["poolState"]) for i in p["instances"])),
            round(p["cost"]["instances"], 2),
        )
        for p in pools
    )


@router.get("/queue")
def queue(state: State, session: MaybeSignedIn) -> Response:
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    return page("queue.html", **queue_context(state, session))


@router.get("/ui/queue/rows")
def queue_rows(state: State, session: MaybeSignedIn) -> Response:
    if session is None:
        return HTMLResponse("Signed out", status_code=401)
    return page("_queue_table.html", **queue_context(state, session))


@router.get("/ui/stream/queue")
def queue_stream(state: State, session: MaybeSignedIn) -> Response:
    if session is None:
        return HTMLResponse("Signed out", status_code=401)
    signed_in = session
    return polled_stream(
        state, session, lambda: (_shown_queue(state, signed_in), False), POLL_SECONDS
    )


@router.get("/pools")
def pools(state: State, session: MaybeSignedIn) -> Response:
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    return page("pools.html", **pools_context(state, session))


@router.get("/ui/pools/rows")
def pools_rows(state: State, session: MaybeSignedIn) -> Response:
    if session is None:
        return HTMLResponse("Signed out", status_code=401)
    return page("_pools_table.html", **pools_context(state, session))


@router.get("/ui/stream/pools")
def pools_stream(state: State, session: MaybeSignedIn) -> Response:
    if session is None:
        return HTMLResponse("Signed out", status_code=401)
    signed_in = session
    return polled_stream(
        state, session, lambda: (_shown_pools(state, signed_in), False), POLL_SECONDS
    )
