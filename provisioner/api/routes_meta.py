"""Health and the instance-type catalog."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response

from provisioner.api.auth import Caller, State
from provisioner.api.schemas import ErrorOut, HealthCheck, HealthOut, InstanceTypeList
from provisioner.rules.errors import ProvisionerError
from provisioner.rules.validation import validate_provider

router = APIRouter()


@router.get(
    "/healthz",
    response_model=HealthOut,
    tags=["meta"],
    summary="Ledger and engine readiness (no token needed)",
    responses={503: {"model": HealthOut, "description": "A check failed"}},
)
def healthz(state: State, response: Response) -> HealthOut:
    service = state.service
    checks: dict[str, HealthCheck] = {}
    try:
        with service.ledger.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["ledger"] = HealthCheck(ok=True, detail=service.ledger.engine.dialect.name)
    except Exception as exc:  # report, never raise: this is the probe
        checks["ledger"] = HealthCheck(ok=False, detail=f"unreachable ({type(exc).__name__})")
    try:
        engine = service.engine_for(service.default_engine)
        engine.ensure_ready()
        detail = "simulated: nothing is created in any cloud" if engine.simulated else "ready"
        checks["engine"] = HealthCheck(ok=True, detail=detail)
    except ProvisionerError as exc:
        checks["engine"] = HealthCheck(ok=False, detail=exc.message)
    ok = all(check.ok for check in checks.values())
    if not ok:
        response.status_code = 503
    return HealthOut(
        success=ok,
        status="ok" if ok else "unavailable",
        engine=service.default_engine,
        checks=checks,
        workers={"maxParallel": state.workers.max_parallel, **state.workers.load()},
    )


@router.get(
    "/api/instance-types",
    response_model=InstanceTypeList,
    tags=["meta"],
    summary="The instance type catalog",
    responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut}},
)
def instance_types(
    caller: Caller,
    state: State,
    provider: Annotated[str | None, Query(description="AWS, AZURE or GCP")] = None,
) -> InstanceTypeList:
    catalog = state.service.catalog
    wanted = validate_provider(provider) if provider is not None else None
    rows = [t.to_json() for t in catalog.for_provider(wanted)]
    return InstanceTypeList.model_validate(
        {"pricesAsOf": catalog.prices_as_of, "instanceTypes": rows, "count": len(rows)}
    )
