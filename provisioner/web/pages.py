"""The dashboard's pages: sign in/out, the fleet, one instance and its extend/terminate actions.

Actions go through the API's own route functions with the signed-in user's principal, so the
dashboard follows exactly the API's rules (isolation, lifecycle, bounds)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from provisioner.api import routes_instances
from provisioner.api.auth import owned_instance
from provisioner.api.errors import status_for
from provisioner.api.schemas import ExtendIn
from provisioner.api.state import ApiState, get_state
from provisioner.api.throttle import client_address
from provisioner.rules.errors import AuthenticationError, ProvisionerError, ValidationError
from provisioner.rules.lifecycle import FINAL, Status
from provisioner.web import session as sessions
from provisioner.web.fleet import FleetFilter, fleet_page, fleet_users
from provisioner.web.forms import read_form, whole_number
from provisioner.web.render import page
from provisioner.web.session import Session

router = APIRouter(include_in_schema=False)
State = Annotated[ApiState, Depends(get_state)]
MaybeSignedIn = Annotated[Session | None, Depends(sessions.current)]
STATUSES = [s.value for s in Status]
EXTEND_CHOICES = (15, 30, 60)
# InstanceOut's fields the instance page lays out; any other (a field added later) is listed
# generically under "Other fields", so new data shows without a template change.
LAID_OUT = frozenset(
    [
        "id",
        "userId",
        "taskId",
        "provider",
        "instanceType",
        "region",
        "status",
        "publicIp",
        "privateIp",
        "cloudInstanceId",
        "diskSizeGB",
        "autoTerminateMinutes",
        "expiresAt",
        "hardDeadline",
        "costPerHour",
        "totalCost",
        "costBreakdown",
        "publicIpv4PerHour",  # in the Cost card's rate (#24)
        "purpose",
        "tags",
        "metadata",
        "engine",
        "createdAt",
        "readyAt",
        "terminatedAt",
        "updatedAt",
        "error",
        "errorCode",
        "sshUser",
        "sshCommand",
        "allowedSshCidrs",
        "sshKeyFingerprint",
        "zone",
        "spot",
        "attempts",
    ]
)
DONE = {
    "extended": "Extended: the new expiry is shown below.",
    "terminating": "Termination started: this page follows it to the end.",
}


def to_sign_in() -> RedirectResponse:
    return RedirectResponse("/signin", status_code=303)


def error_page(session: Session | None, exc: ProvisionerError, state: ApiState) -> HTMLResponse:
    """The refusal as a page, with the status the API gives the same error."""
    return page(
        "error.html",
        status_for(exc),
        session=session,
        message=exc.message,
        now=state.service.clock(),
    )


def common(state: ApiState, session: Session, **extra: Any) -> dict[str, Any]:
    return {"session": session, "now": state.service.clock(), **extra}


# -- signing in -----------------------------------------------------------------------------


@router.get("/signin")
def signin_form(session: MaybeSignedIn) -> Response:
    if session is not None:
        return RedirectResponse("/", status_code=303)
    return page("signin.html", session=None, error=None)


@router.post("/signin")
async def signin(request: Request, state: State) -> Response:
    sessions.check_origin(request)
    address = client_address(request.scope)
    if wait := state.throttle.wait_seconds(address):  # a guesser: no lookup at all (#26)
        return page(
            "signin.html",
            429,
            session=None,
            error=state.throttle.message(wait),
            headers={"Retry-After": str(wait)},
        )
    token = (await read_form(request)).get("token", "").strip()
    try:
        principal = await run_in_threadpool(state.tokens.verify, token or None)
    except AuthenticationError as exc:
        state.throttle.failed(address)
        return page("signin.html", 401, session=None, error=exc.message)
    response = RedirectResponse("/", status_code=303)
    await run_in_threadpool(sessions.sign_in, response, request, principal)
    return response


@router.post("/signout")
async def signout(request: Request, session: MaybeSignedIn) -> Response:
    if session is not None:
        sessions.check_csrf(request, session, (await read_form(request)).get("csrf"))
    response = RedirectResponse("/signin", status_code=303)
    await run_in_threadpool(sessions.sign_out, response, request)
    return response


# -- the fleet ------------------------------------------------------------------------------


def fleet_filter(
    session: Session, status: str | None, provider: str | None, user: str | None, page_no: int
) -> FleetFilter:
    """The filters from the query; a user always sees only their own instances."""
    wanted_status = status if status in STATUSES else None
    wanted_provider = provider.upper() if provider else None
    wanted_user = (user or None) if session.admin else session.user_id
    return FleetFilter(wanted_user, wanted_status, wanted_provider, page_no)


FleetQuery = tuple[str | None, str | None, str | None, int]


def fleet_query(
    status: Annotated[str | None, Query()] = None,
    provider: Annotated[str | None, Query()] = None,
    user: Annotated[str | None, Query(max_length=64)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> FleetQuery:
    return status or None, provider or None, user or None, page_no


Filters = Annotated[FleetQuery, Depends(fleet_query)]


def fleet_context(state: ApiState, session: Session, query: FleetQuery) -> dict[str, Any]:
    wanted = fleet_filter(session, *query)
    result = fleet_page(state.service, wanted)
    providers = sorted({t.provider for t in state.service.catalog.for_provider()})
    shown_user = wanted.user_id if session.admin else None

    def page_query(number: int) -> str:
        params = {"status": wanted.status, "provider": wanted.provider, "user": shown_user}
        return urlencode({k: v for k, v in {**params, "page": number}.items() if v})

    return common(
        state,
        session,
        fleet=result,
        wanted=wanted,
        statuses=STATUSES,
        providers=providers,
        users=fleet_users(state.service) if session.admin else [],
        final=[s.value for s in FINAL],
        page_query=page_query,
        query_string=page_query(result.page),
    )


@router.get("/")
def fleet(state: State, session: MaybeSignedIn, query: Filters) -> Response:
    if session is None:
        return to_sign_in()
    return page("fleet.html", **fleet_context(state, session, query))


@router.get("/ui/fleet/rows")
def fleet_rows(state: State, session: MaybeSignedIn, query: Filters) -> Response:
    """The fleet table alone: what the page's script swaps in when the stream says it changed."""
    if session is None:
        return HTMLResponse("Signed out", status_code=401)
    return page("_fleet_table.html", **fleet_context(state, session, query))


# -- one instance -----------------------------------------------------------------------------


def instance_context(state: ApiState, session: Session, instance_id: str) -> dict[str, Any]:
    instance = owned_instance(state, session.principal, instance_id)
    events = state.service.events(instance_id)
    return common(
        state,
        session,
        instance=instance,
        extra=sorted(
            (key, value)
            for key, value in instance.to_json().items()
            if key not in LAID_OUT and value not in (None, "", [], {})
        ),
        events=events,
        final=Status(instance.status) in FINAL,
        extend_choices=EXTEND_CHOICES,
    )


@router.get("/instances/{instance_id}")
def instance_page(
    instance_id: str,
    state: State,
    session: MaybeSignedIn,
    done: Annotated[str | None, Query()] = None,
) -> Response:
    if session is None:
        return to_sign_in()
    try:
        context = instance_context(state, session, instance_id)
    except ProvisionerError as exc:
        return error_page(session, exc, state)
    return page("instance.html", notice=DONE.get(done or ""), **context)


@router.get("/ui/instances/{instance_id}/panel")
def instance_panel(instance_id: str, state: State, session: MaybeSignedIn) -> Response:
    if session is None:
        return HTMLResponse("Signed out", status_code=401)
    try:
        context = instance_context(state, session, instance_id)
    except ProvisionerError as exc:
        return error_page(session, exc, state)
    return page("_instance_panel.html", **context)


@router.post("/instances/{instance_id}/extend")
async def extend(
    instance_id: str, request: Request, state: State, session: MaybeSignedIn
) -> Response:
    if session is None:
        return to_sign_in()
    form = await read_form(request)
    try:
        sessions.check_csrf(request, session, form.get("csrf"))
        minutes = whole_number("minutes", "Minutes", form.get("minutes"))
        if minutes is None:
            raise ValidationError("minutes", "Minutes: choose how long to extend by")
        await run_in_threadpool(
            routes_instances.extend,
            instance_id,
            ExtendIn(minutes=minutes),
            session.principal,
            state,
        )
    except ProvisionerError as exc:
        return error_page(session, exc, state)
    return RedirectResponse(f"/instances/{instance_id}?done=extended", status_code=303)


@router.post("/instances/{instance_id}/terminate")
async def terminate(
    instance_id: str, request: Request, state: State, session: MaybeSignedIn
) -> Response:
    if session is None:
        return to_sign_in()
    form = await read_form(request)
    try:
        sessions.check_csrf(request, session, form.get("csrf"))
        await routes_instances.terminate(
            instance_id, session.principal, state, Response(), wait=False
        )
    except ProvisionerError as exc:
        return error_page(session, exc, state)
    return RedirectResponse(f"/instances/{instance_id}?done=terminating", status_code=303)
