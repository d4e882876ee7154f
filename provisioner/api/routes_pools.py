"""`/api/pools` (#22): create, list, show, edit, drain and delete warm pools. Short adapters over
`ops/pools_service.py`, the calls the CLI's `pool` commands make.

Any token sees every pool (any user may submit jobs to any pool, as on the CLI); only the pool's
owner or an admin may edit, drain or delete it (403)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from provisioner.api.auth import Caller, State, acting_user
from provisioner.api.routes_instances import ERRORS, _request
from provisioner.api.schemas import ConfigIn, ProvisionIn, WholeNumber, _In
from provisioner.api.sim_guard import refuse_user_code
from provisioner.ledger import pools as pool_rows
from provisioner.ledger.pool_models import Pool
from provisioner.ledger.tokens import Principal
from provisioner.ops import pools_service
from provisioner.ops.job_views import pool_json
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import NotFoundError, PermissionDeniedError, shown_id

router = APIRouter(prefix="/api/pools", tags=["pools"])
LIMIT = 1000  # instances: far above any real pool, below any integer overflow in the ledger
MINUTES = 525_600  # a year


class PoolIn(_In):
    name: str = Field(description="1..64 of A-Z a-z 0-9 . _ -")
    user_id: str | None = Field(default=None, description="Owner (default: the token's user)")
    config: ConfigIn = Field(description="The VM request, as in POST /api/instances")
    min: WholeNumber = Field(default=0, ge=0, le=LIMIT, description="Warm VMs kept when idle")
    max: WholeNumber = Field(default=1, ge=1, le=LIMIT, description="Most instances at once")
    idle_minutes: WholeNumber = Field(
        default=10, ge=1, le=MINUTES, description="Scale-in timeout of an idle VM"
    )
    max_age_minutes: WholeNumber | None = Field(
        default=None, ge=5, le=MINUTES, description="Recycle older VMs"
    )
    reuse: str = Field(default="user", description="user: a VM serves one user; pool: any user")


class PoolEditIn(_In):
    min: WholeNumber | None = Field(default=None, ge=0, le=LIMIT)
    max: WholeNumber | None = Field(default=None, ge=1, le=LIMIT)
    idle_minutes: WholeNumber | None = Field(default=None, ge=1, le=MINUTES)
    max_age_minutes: WholeNumber | None = Field(default=None, ge=5, le=MINUTES)
    reuse: str | None = None


def known_pool(service: Provisioner, name: str) -> Pool:
    """The pool named in the path; unknown (or deleted) is a 404."""
    pool = pool_rows.find_pool(service.ledger, name)
    if pool is None or pool.status == "DELETED":
        raise NotFoundError(f"Pool {shown_id(name)} not found")
    return pool


def _owned(caller: Principal, pool: Pool) -> None:
    if not caller.admin and pool.user_id != caller.user_id:
        raise PermissionDeniedError(
            f"Pool {pool.name} belongs to user {pool.user_id}; this token ({caller.user_id}) "
            "may not change it"
        )


@router.post("", status_code=201, summary="Create a pool", responses=ERRORS)
def create(body: PoolIn, caller: Caller, state: State) -> dict[str, Any]:
    user = acting_user(caller, body.user_id) or caller.user_id
    request = _request(ProvisionIn.model_construct(config=body.config), user)
    refuse_user_code(state, caller, request)  # its VMs boot the pool's setup script
    pool = pools_service.create_pool(
        state.service,
        body.name,
        request,
        minimum=body.min,
        maximum=body.max,
        idle_minutes=body.idle_minutes,
        max_age=body.max_age_minutes,
        reuse=body.reuse,
    )
    return {"success": True, "pool": pool_json(state.service, pool)}


@router.get("", summary="Every pool, its instances and cost", responses=ERRORS)
def list_(caller: Caller, state: State) -> dict[str, Any]:
    pools = [pool_json(state.service, p) for p in pool_rows.list_pools(state.service.ledger)]
    return {"success": True, "pools": pools, "count": len(pools)}


@router.get("/{name}", summary="One pool", responses=ERRORS)
def show(name: str, caller: Caller, state: State) -> dict[str, Any]:
    return {"success": True, "pool": pool_json(state.service, known_pool(state.service, name))}


@router.patch(
    "/{name}", summary="Change a pool's scaling (the next sweep applies it)", responses=ERRORS
)
def edit(name: str, body: PoolEditIn, caller: Caller, state: State) -> dict[str, Any]:
    _owned(caller, known_pool(state.service, name))
    pool = pools_service.edit_pool(
        state.service,
        name,
        min=body.min,
        max=body.max,
        idle_minutes=body.idle_minutes,
        max_age_minutes=body.max_age_minutes,
        reuse=body.reuse,
    )
    return {"success": True, "pool": pool_json(state.service, pool)}


@router.post("/{name}/drain", summary="Take no new jobs; its VMs go once idle", responses=ERRORS)
def drain(name: str, caller: Caller, state: State) -> dict[str, Any]:
    _owned(caller, known_pool(state.service, name))
    pool = pools_service.drain_pool(state.service, name)
    return {"success": True, "pool": pool_json(state.service, pool)}


@router.delete("/{name}", summary="Delete a drained, empty pool (409 otherwise)", responses=ERRORS)
def delete(name: str, caller: Caller, state: State) -> dict[str, Any]:
    _owned(caller, known_pool(state.service, name))
    pool = pools_service.delete_pool(state.service, name)
    return {"success": True, "pool": pool_json(state.service, pool)}
