"""The seed's instance endpoints, and what we add to them (extend, status, events)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from provisioner.api.auth import Caller, State, acting_user, owned_instance
from provisioner.api.errors import OperationFailedError
from provisioner.api.paging import DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from provisioner.api.schemas import (
    ErrorOut,
    EventList,
    ExtendIn,
    InstanceEnvelope,
    InstanceList,
    ProvisionIn,
    StatisticsEnvelope,
    StatusIn,
    TerminateOut,
)
from provisioner.api.sim_guard import refuse_user_code
from provisioner.api.sse import parse_last_event_id, stream_events
from provisioner.api.state import ApiState
from provisioner.ledger.admission import KeyTakenError
from provisioner.ledger.idempotency import validate_key
from provisioner.ledger.models import InstanceOut
from provisioner.rules.errors import ConflictError, ProvisionerError, ValidationError
from provisioner.rules.lifecycle import Status, parse_status
from provisioner.rules.validation import ProvisionRequest

router = APIRouter(prefix="/api/instances", tags=["instances"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Bad input: the message names the field and rule"},
    401: {"model": ErrorOut, "description": "Missing, invalid or revoked token"},
    403: {"model": ErrorOut, "description": "Acting as another user without an admin token"},
    404: {"model": ErrorOut, "description": "No such instance (or another user's)"},
    409: {"model": ErrorOut, "description": "Not allowed in the instance's current state"},
}
FAILED: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorOut, "description": "The cloud operation failed; with the instance"}
}
Wait = Annotated[bool, Query(description="Wait for the operation to finish (the seed's behaviour)")]


def _location(instance_id: str) -> str:
    return f"/api/instances/{instance_id}"


def _request(body: ProvisionIn, user_id: str) -> ProvisionRequest:
    config = body.config
    return ProvisionRequest(
        provider=config.provider,
        instance_type=config.instance_type or "",
        instance_types=tuple(config.instance_types or ()),
        regions=tuple(config.regions or ()),
        zone=config.zone,
        gpu=config.gpu,
        min_gpu_memory_gb=config.min_gpu_memory,
        min_vcpus=config.min_vcpus,
        max_price=config.max_price,
        spot=config.spot,
        max_attempts=config.max_attempts,
        recover=config.recover,
        user_id=user_id,
        task_id=body.task_id,
        region=config.region,
        disk_size_gb=config.disk_size_gb,
        auto_terminate_minutes=config.auto_terminate_minutes,
        tags=dict(config.tags or {}),
        purpose=body.purpose,
        ssh_public_key=config.ssh_public_key,
        allowed_ssh_cidrs=tuple(config.allowed_ssh_cidrs or ()),
        setup_script=config.setup_script,
        idle_minutes=config.idle_minutes,
    )


def _begin(
    state: ApiState, request: ProvisionRequest, key: str | None, wait: bool
) -> tuple[InstanceOut, Future[InstanceOut] | None, bool]:
    """Record the request (or find the one this Idempotency-Key made) and start its up here,
    or, when every worker here is busy, queue it for any replica's pickup loop (#6).

    The key is claimed in the transaction that records the instance (`ledger/admission.py`), so
    of two requests with one key, on any replicas, one records and the other replays it.
    Returns (the instance, the running up or None, whether this is a replay).
    """
    service = state.service
    if key is not None:
        service.validate(request)  # a replay still refuses a body that is not valid (400)
        earlier = state.idempotency.lookup(request.user_id, key)
        if earlier is not None:
            return service.get(earlier), state.workers.pending(earlier), True
    here = wait or state.workers.free() > 0
    try:
        instance = service.begin_provision(request, hold=here, idempotency_key=key)
    except KeyTakenError as taken:
        return service.get(taken.instance_id), state.workers.pending(taken.instance_id), True
    future = state.workers.provision(instance.id) if here else None
    return service.to_out(instance), future, False


async def _outcome(state: ApiState, instance_id: str, future: Future[InstanceOut]) -> InstanceOut:
    try:
        return await asyncio.wrap_future(future)
    except ProvisionerError as exc:
        instance = await run_in_threadpool(state.service.get, instance_id)
        raise OperationFailedError(exc, instance) from exc


@router.post(
    "",
    status_code=202,
    response_model=InstanceEnvelope,
    summary="Provision an instance",
    responses={
        200: {"model": InstanceEnvelope, "description": "Replay of an earlier Idempotency-Key"},
        201: {"model": InstanceEnvelope, "description": "wait=true: the instance is READY"},
        **ERRORS,
        **FAILED,
    },
)
async def provision(
    body: ProvisionIn,
    caller: Caller,
    state: State,
    response: Response,
    wait: Wait = False,
    idempotency_key: Annotated[
        str | None,
        Header(description="A repeat with the same key within 24 h returns the same instance"),
    ] = None,
) -> InstanceEnvelope:
    """202 with the instance PROVISIONING and a Location to poll; `wait=true`: 201 READY or 502.

    The up runs in a bounded worker pool (PROVISIONER_MAX_PARALLEL)."""
    user_id = acting_user(caller, body.user_id)
    assert user_id is not None
    key = validate_key(idempotency_key) if idempotency_key is not None else None
    request = _request(body, user_id)
    await run_in_threadpool(refuse_user_code, state, caller, request)
    instance, future, replayed = await run_in_threadpool(_begin, state, request, key, wait)
    response.headers["Location"] = _location(instance.id)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if wait and future is not None:
        instance = await _outcome(state, instance.id, future)
    elif wait:
        instance = await run_in_threadpool(state.service.get, instance.id)
    response.status_code = 200 if replayed else (201 if wait else 202)
    return InstanceEnvelope(instance=instance)


@router.get("", response_model=InstanceList, summary="List instances", responses=ERRORS)
def list_instances(
    caller: Caller,
    state: State,
    user_id: Annotated[
        str | None,
        Query(alias="userId", description="Default: the token's user (an admin: everyone)"),
    ] = None,
    status: Annotated[str | None, Query(description="Only instances in this status")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description=f"Page size (default {DEFAULT_PAGE})")
    ] = DEFAULT_PAGE,
    cursor: Annotated[
        str | None,
        Query(
            description="nextCursor of the previous page",
            max_length=512,
            pattern=r"^[A-Za-z0-9_-]+$",
        ),
    ] = None,
) -> InstanceList:
    """Newest first, a page at a time (at most `limit`): follow `nextCursor` for the rest."""
    user = acting_user(caller, user_id, everyone=True)
    try:
        if status and not status.isascii():
            raise ValueError(f"Status must be one of {', '.join(Status)} (got {status!r})")
        wanted = parse_status(status) if status is not None else None
    except ValueError as exc:
        raise ValidationError("status", str(exc)) from None
    after = decode_cursor(cursor) if cursor else None
    instances, more = state.service.page(user, wanted, limit=limit, after=after)
    next_cursor = encode_cursor(instances[-1]) if more and instances else None
    return InstanceList(instances=instances, count=len(instances), next_cursor=next_cursor)


@router.get("/stats", response_model=StatisticsEnvelope, summary="Statistics", responses=ERRORS)
def statistics(
    caller: Caller,
    state: State,
    user_id: Annotated[
        str | None,
        Query(alias="userId", description="Default: the token's user (an admin: everyone)"),
    ] = None,
) -> StatisticsEnvelope:
    user = acting_user(caller, user_id, everyone=True)
    return StatisticsEnvelope(statistics=state.service.statistics(user))


@router.get(
    "/{instance_id}", response_model=InstanceEnvelope, summary="Get an instance", responses=ERRORS
)
def get_instance(instance_id: str, caller: Caller, state: State) -> InstanceEnvelope:
    return InstanceEnvelope(instance=owned_instance(state, caller, instance_id))


@router.delete(
    "/{instance_id}",
    status_code=202,
    response_model=TerminateOut,
    summary="Terminate an instance",
    responses={
        200: {"model": TerminateOut, "description": "Terminated (wait=true), or already was"},
        **ERRORS,
        **FAILED,
    },
)
async def terminate(
    instance_id: str, caller: Caller, state: State, response: Response, wait: Wait = False
) -> TerminateOut:
    """202 with the instance STOPPING; `wait=true`: 200 TERMINATED, or 502 if destroy failed.

    Terminating a terminated instance is a 200 no-op."""
    service = state.service
    await run_in_threadpool(owned_instance, state, caller, instance_id)
    running = state.workers.operation(instance_id)
    if running == "up":
        raise ConflictError(
            f"Instance {instance_id} is still being provisioned; terminate it once it is READY "
            "(a failed up cleans up after itself)"
        )
    if running != "destroy":
        begun = await run_in_threadpool(service.begin_terminate, instance_id, reason="api")
        if begun.status == Status.TERMINATED or begun.terminated_at is not None:
            response.status_code = 200
            message = (
                "Queued provisioning cancelled; nothing was created"
                if begun.error_code == "CANCELLED" and begun.status == Status.FAILED
                else "Instance already terminated"
            )
            return TerminateOut(message=message, instance=service.to_out(begun))
    future = state.workers.terminate(instance_id, reason="api")
    response.headers["Location"] = _location(instance_id)
    if not wait:
        current = await run_in_threadpool(service.get, instance_id)
        return TerminateOut(message="Termination started", instance=current)
    instance = await _outcome(state, instance_id, future)
    response.status_code = 200
    return TerminateOut(message="Instance terminated successfully", instance=instance)


@router.post(
    "/{instance_id}/extend",
    response_model=InstanceEnvelope,
    summary="Extend an instance's lifetime",
    responses=ERRORS,
)
def extend(instance_id: str, body: ExtendIn, caller: Caller, state: State) -> InstanceEnvelope:
    """Push expiresAt back by `minutes`; never past the hard deadline (400 names it)."""
    owned_instance(state, caller, instance_id)
    return InstanceEnvelope(instance=state.service.extend(instance_id, body.minutes))


@router.post(
    "/{instance_id}/status",
    response_model=InstanceEnvelope,
    summary="Mark a task started (RUNNING) or finished (READY)",
    responses=ERRORS,
)
def set_status(instance_id: str, body: StatusIn, caller: Caller, state: State) -> InstanceEnvelope:
    owned_instance(state, caller, instance_id)
    wanted = body.status.upper() if body.status.isascii() else ""
    if wanted not in (Status.RUNNING, Status.READY):
        raise ValidationError(
            "status",
            "Status can only be set to RUNNING (a task started) or READY (it finished) "
            f"(got {body.status!r})",
        )
    state.streams.toggle(caller)  # per-token rate of moves (#26)
    return InstanceEnvelope(instance=state.service.set_status(instance_id, wanted))


@router.get(
    "/{instance_id}/events",
    response_model=EventList,
    summary="An instance's events (JSON, or live Server-Sent Events)",
    responses={
        200: {
            "description": "JSON, or with `Accept: text/event-stream` a live SSE stream",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **ERRORS,
    },
)
async def events(
    instance_id: str,
    request: Request,
    caller: Caller,
    state: State,
    last_event_id: Annotated[
        str | None, Header(description="SSE: resume after this event id")
    ] = None,
) -> Any:
    await run_in_threadpool(owned_instance, state, caller, instance_id)
    if "text/event-stream" in request.headers.get("accept", ""):
        ticket = state.streams.open(caller)  # 429 past the per-token cap (#26)

        async def still_valid() -> bool:
            return await state.streams.still_valid(caller.token_id)

        stream = stream_events(
            state.service,
            state.hub,
            instance_id,
            after=parse_last_event_id(last_event_id),
            still_valid=still_valid,
            on_close=ticket.release,
        )
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            background=BackgroundTask(ticket.release),  # also when the body never started
        )
    found = await run_in_threadpool(state.service.events, instance_id)
    return EventList(events=found, count=len(found))
