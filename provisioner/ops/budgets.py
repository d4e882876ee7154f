"""Spend budgets and concurrent-instance caps per user (#5), stored in the `budgets` table.

A request is refused before anything is recorded or created when
- the user's spend in the period plus the request's projected cost would exceed the daily
  (UTC day) or monthly (UTC calendar month) budget. The projection is the request's whole
  auto-terminate time: compute (`costPerHour x ttl`) plus its disk for that time. Spend in a
  period is that of the instances created in it (see `spend.py`); or
- the user already has `maxInstances` live instances (no terminatedAt, i.e. still holding or
  maybe holding cloud resources).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, col, select

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import Budget, _CamelModel
from provisioner.ledger.spend import live_instances, user_spend
from provisioner.rules.billing import projected_cost
from provisioner.rules.errors import BudgetExceededError, ValidationError

MAX_USD = Decimal("1000000")


class BudgetOut(_CamelModel):
    """A user's limits and where they stand against them now."""

    user_id: str
    daily_usd: float | None
    monthly_usd: float | None
    max_instances: int | None
    updated_at: datetime
    spent_today: float
    spent_this_month: float
    live_instances: int


@dataclass(frozen=True)
class RequestCost:
    """What the budget check needs to know about a request."""

    user_id: str
    instance_type: str
    price_per_hour: Decimal
    price_gb_month: Decimal
    disk_gb: int
    minutes: int
    ipv4_per_hour: Decimal = Decimal(0)  # the VM's public IPv4 address (#24)


def day_window(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def month_window(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def usd(value: Decimal) -> str:
    """Dollars to the cent, or to the hundredth of a cent when the cents would hide a figure."""
    cents = value.quantize(Decimal("0.01"))
    if cents == value.quantize(Decimal("0.0001")):
        return f"${cents:,}"
    fine = value.quantize(Decimal("0.0001"))
    text = f"{fine:,}".rstrip("0")
    return f"${text}"


MAX_INSTANCES_CAP = 100_000


def _limit(field_name: str, label: str, value: Decimal | float | str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise ValidationError(
            field_name, f"{label} must be a number of USD (got {value!r})"
        ) from None
    if not amount.is_finite() or amount < 0 or amount > MAX_USD:
        raise ValidationError(field_name, f"{label} must be 0..{MAX_USD:,} USD (got {value})")
    return amount.quantize(Decimal("0.000001"))


def save_budget(
    ledger: Ledger,
    user_id: str,
    *,
    at: datetime,
    daily_usd: Decimal | float | str | None = None,
    monthly_usd: Decimal | float | str | None = None,
    max_instances: int | None = None,
) -> Budget:
    """Create or change a user's budget: only the limits given change, the others stay."""
    daily = _limit("dailyUsd", "Daily budget", daily_usd)
    monthly = _limit("monthlyUsd", "Monthly budget", monthly_usd)
    if max_instances is not None and (
        isinstance(max_instances, bool)
        or not isinstance(max_instances, int)
        or not 0 <= max_instances <= MAX_INSTANCES_CAP
    ):
        raise ValidationError(
            "maxInstances",
            f"Max instances must be a whole number 0..{MAX_INSTANCES_CAP} (got {max_instances!r})",
        )
    if daily is None and monthly is None and max_instances is None:
        raise ValidationError(
            "budget", "Give at least one of a daily budget, a monthly budget or max instances"
        )
    with Session(ledger.engine, expire_on_commit=False) as session:
        budget = session.get(Budget, user_id) or Budget(user_id=user_id, updated_at=at)
        if daily is not None:
            budget.daily_usd = daily
        if monthly is not None:
            budget.monthly_usd = monthly
        if max_instances is not None:
            budget.max_instances = max_instances
        budget.updated_at = at
        session.add(budget)
        session.commit()
        return budget


def load_budget(ledger: Ledger, user_id: str) -> Budget | None:
    with Session(ledger.engine, expire_on_commit=False) as session:
        return session.get(Budget, user_id)


def delete_budget(ledger: Ledger, user_id: str) -> bool:
    with Session(ledger.engine) as session:
        budget = session.get(Budget, user_id)
        if budget is None:
            return False
        session.delete(budget)
        session.commit()
        return True


def all_budgets(ledger: Ledger) -> list[Budget]:
    with Session(ledger.engine, expire_on_commit=False) as session:
        return list(session.exec(select(Budget).order_by(col(Budget.user_id))).all())


def standing(ledger: Ledger, budget: Budget, *, now: datetime) -> BudgetOut:
    today, month = day_window(now), month_window(now)
    return BudgetOut(
        user_id=budget.user_id,
        daily_usd=None if budget.daily_usd is None else float(budget.daily_usd),
        monthly_usd=None if budget.monthly_usd is None else float(budget.monthly_usd),
        max_instances=budget.max_instances,
        updated_at=budget.updated_at,
        spent_today=float(
            user_spend(ledger, budget.user_id, now=now, since=today[0], until=today[1])
        ),
        spent_this_month=float(
            user_spend(ledger, budget.user_id, now=now, since=month[0], until=month[1])
        ),
        live_instances=live_instances(ledger, budget.user_id),
    )


def check_request(ledger: Ledger, request: RequestCost, *, now: datetime) -> None:
    """Raise BudgetExceededError (one line naming the budget and the figures) if over a limit."""
    budget = load_budget(ledger, request.user_id)
    if budget is None:
        return
    user = request.user_id
    if budget.max_instances is not None:
        live = live_instances(ledger, user)
        if live >= budget.max_instances:
            raise BudgetExceededError(
                f"Budget exceeded: {user}'s instance cap is {budget.max_instances} live "
                f"instance(s); {live} live now (terminate one with `provisioner down`)",
                user_id=user,
                budget="maxInstances",
            )
    projected = projected_cost(
        request.price_per_hour,
        request.price_gb_month,
        request.disk_gb,
        request.minutes,
        request.ipv4_per_hour,
    )
    what = (
        f"{request.instance_type} ${request.price_per_hour:g}/h x {request.minutes} min"
        f" + {request.disk_gb} GB disk {usd(projected.storage)}"
    )
    if projected.public_ipv4:
        what += f" + public IPv4 {usd(projected.public_ipv4)}"
    periods = (
        ("daily", budget.daily_usd, day_window(now), "today"),
        ("monthly", budget.monthly_usd, month_window(now), "this month"),
    )
    for name, limit, (start, end), when in periods:
        if limit is None:
            continue
        spent = user_spend(ledger, user, now=now, since=start, until=end)
        if spent + projected.total > Decimal(limit):
            raise BudgetExceededError(
                f"Budget exceeded: {user}'s {name} budget is {usd(Decimal(limit))}; spent {when} "
                f"{usd(spent)} + this request up to {usd(projected.total)} ({what})",
                user_id=user,
                budget=name,
            )
