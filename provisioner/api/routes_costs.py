"""Cost report and budgets (#5) over HTTP. Budgets are set by admins; users may read their own."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from provisioner.api.auth import Caller, State, acting_user
from provisioner.api.schemas import ErrorOut, WholeNumber, _In, _Out
from provisioner.ledger.tokens import Principal
from provisioner.ops.budgets import BudgetOut
from provisioner.rules.errors import PermissionDeniedError

router = APIRouter(tags=["costs"])
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
}
UserPath = Annotated[
    str, Path(description="The user the budget applies to", pattern=r"^[A-Za-z0-9._-]{1,64}$")
]


class CostReportEnvelope(_Out):
    success: bool = True
    report: dict[str, Any]


class BudgetIn(_In):
    daily_usd: float | None = None
    monthly_usd: float | None = None
    max_instances: WholeNumber | None = None


class BudgetEnvelope(_Out):
    success: bool = True
    budget: BudgetOut


class BudgetList(_Out):
    success: bool = True
    budgets: list[BudgetOut]
    count: int


class ClearedOut(_Out):
    success: bool = True
    message: str


def _admin(caller: Principal) -> None:
    if not caller.admin:
        raise PermissionDeniedError("Budgets are set by admins; this token is not an admin's")


@router.get(
    "/api/cost-report",
    response_model=CostReportEnvelope,
    summary="Spend per user, provider, type or day (a user sees their own)",
    responses=ERRORS,
)
def cost_report(
    caller: Caller,
    state: State,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    by: Annotated[Literal["user", "provider", "type", "day"], Query()] = "user",
    user_id: Annotated[str | None, Query(alias="userId")] = None,
) -> CostReportEnvelope:
    user = acting_user(caller, user_id, everyone=True)
    report = state.service.cost_report(days=days, by=by, user_id=user)
    return CostReportEnvelope(report=report)


@router.get(
    "/api/budgets", response_model=BudgetList, summary="Every budget (admins)", responses=ERRORS
)
def list_budgets(caller: Caller, state: State) -> BudgetList:
    _admin(caller)
    budgets = state.service.list_budgets()
    return BudgetList(budgets=budgets, count=len(budgets))


@router.get(
    "/api/budgets/{user_id}",
    response_model=BudgetEnvelope,
    summary="A user's budget and spend against it (admins, or the user)",
    responses=ERRORS,
)
def get_budget(caller: Caller, state: State, user_id: UserPath) -> BudgetEnvelope:
    acting_user(caller, user_id)
    return BudgetEnvelope(budget=state.service.get_budget(user_id))


@router.put(
    "/api/budgets/{user_id}",
    response_model=BudgetEnvelope,
    summary="Set a user's daily/monthly limits and instance cap (admins)",
    responses=ERRORS,
)
def set_budget(caller: Caller, state: State, user_id: UserPath, body: BudgetIn) -> BudgetEnvelope:
    _admin(caller)
    budget = state.service.set_budget(
        user_id,
        daily_usd=None if body.daily_usd is None else Decimal(str(body.daily_usd)),
        monthly_usd=None if body.monthly_usd is None else Decimal(str(body.monthly_usd)),
        max_instances=body.max_instances,
    )
    return BudgetEnvelope(budget=budget)


@router.delete(
    "/api/budgets/{user_id}",
    response_model=ClearedOut,
    summary="Remove a user's limits (admins)",
    responses=ERRORS,
)
def clear_budget(caller: Caller, state: State, user_id: UserPath) -> ClearedOut:
    _admin(caller)
    existed = state.service.clear_budget(user_id)
    return ClearedOut(message=f"Budget of {user_id} cleared" if existed else "No budget to clear")
