"""The costs page: spend per day (drawn as SVG bars, no script), per user/provider/type, and
budgets with how much of each is used (admins set them here)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote_plus

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from provisioner.api import routes_costs
from provisioner.api.auth import acting_user
from provisioner.api.state import ApiState, get_state
from provisioner.rules.errors import NotFoundError, ProvisionerError, ValidationError
from provisioner.web import session as sessions
from provisioner.web.forms import decimal_text, read_form, whole_number
from provisioner.web.pages import error_page
from provisioner.web.render import page
from provisioner.web.session import Session

router = APIRouter(include_in_schema=False)
State = Annotated[ApiState, Depends(get_state)]
MaybeSignedIn = Annotated[Session | None, Depends(sessions.current)]
DAY_CHOICES = (7, 30, 90)
GROUPS = ("user", "provider", "type")
CHART_HEIGHT = 160


def daily_bars(daily: list[dict[str, Any]], providers: list[str]) -> dict[str, Any]:
    """Stacked bars (one per day, one colour per provider) as SVG rectangles' coordinates."""
    top = max((day["total"] for day in daily), default=0.0) or 1.0
    width = 12
    bars = []
    for index, day in enumerate(daily):
        y = float(CHART_HEIGHT)
        parts = []
        for number, provider in enumerate(providers):
            amount = day["byProvider"].get(provider, 0.0)
            height = CHART_HEIGHT * amount / top
            y -= height
            parts.append({"provider": provider, "slot": number % 4, "y": y, "height": height})
        bars.append({"x": index * (width + 2), "width": width, "day": day, "parts": parts})
    return {
        "bars": bars,
        "width": max(1, len(daily)) * (width + 2),
        "height": CHART_HEIGHT,
        "top": top,
    }


def used(spent: float, limit: float | None) -> float | None:
    return None if not limit else min(1.0, spent / limit)


def budgets_for(state: ApiState, session: Session) -> list[Any]:
    if session.admin:
        return state.service.list_budgets()
    try:
        return [state.service.get_budget(session.user_id)]
    except NotFoundError:
        return []


@router.get("/costs")
def costs(
    state: State,
    session: MaybeSignedIn,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    user: Annotated[str | None, Query(max_length=64)] = None,
    message: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    try:
        who = acting_user(session.principal, user or None, everyone=True)
    except ProvisionerError as exc:
        return error_page(session, exc, state)
    reports = {by: state.service.cost_report(days=days, by=by, user_id=who) for by in GROUPS}
    first = reports["user"]
    return page(
        "costs.html",
        session=session,
        now=state.service.clock(),
        days=days,
        day_choices=DAY_CHOICES,
        user=who,
        report=first,
        reports=reports,
        chart=daily_bars(first["daily"], first["providers"]),
        budgets=budgets_for(state, session),
        used=used,
        message=message,
        error=None,
    )


@router.post("/budgets")
async def set_budget(request: Request, state: State, session: MaybeSignedIn) -> Response:
    """Admins: set (or with `clear`, remove) a user's limits; blank limits are left unset."""
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    form = await read_form(request)
    try:
        sessions.check_csrf(request, session, form.get("csrf"))
        user_id = form.get("userId", "").strip()
        if not user_id:
            raise ValidationError("userId", "User id: name the user the budget applies to")
        if form.get("clear"):
            await run_in_threadpool(routes_costs.clear_budget, session.principal, state, user_id)
            note = f"Budget of {user_id} removed"
        else:
            body = routes_costs.BudgetIn.model_validate(
                {
                    "dailyUsd": decimal_text("dailyUsd", "Daily limit", form.get("dailyUsd")),
                    "monthlyUsd": decimal_text(
                        "monthlyUsd", "Monthly limit", form.get("monthlyUsd")
                    ),
                    "maxInstances": whole_number(
                        "maxInstances", "Instance cap", form.get("maxInstances")
                    ),
                }
            )
            await run_in_threadpool(
                routes_costs.set_budget, session.principal, state, user_id, body
            )
            note = f"Budget of {user_id} saved"
    except ProvisionerError as exc:
        return error_page(session, exc, state)
    return RedirectResponse(f"/costs?message={quote_plus(note)}", status_code=303)
