"""A request's plan before any money is spent (`provisioner plan`, `up --dry-run`): the candidates
in failover order (from `Failover.plan`, never re-ordered here), what the TTL would cost at each,
the user's budget headroom after it, and what the cheap preflight says about the first candidate.
Nothing is recorded and no stack is touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from provisioner.engine.base import Target
from provisioner.ledger.spend import live_instances, user_spend
from provisioner.ops.budgets import day_window, load_budget, month_window
from provisioner.rules.billing import projected_cost, storage_price_gb_month
from provisioner.rules.costs import round_money
from provisioner.rules.public_ip import public_ipv4_per_hour

if TYPE_CHECKING:
    from provisioner.ops.failover import Failover
    from provisioner.rules.validation import ProvisionRequest


@dataclass
class Plan:
    provider: str
    instance_type: str
    region: str
    engine: str
    simulated: bool
    ttl_minutes: int
    hard_lifetime_minutes: int
    disk_gb: int
    max_attempts: int
    user_id: str
    candidates: list[dict[str, Any]]  # in failover order, each with its projected cost
    projected_cost: Decimal  # of the first candidate, for the whole TTL
    budget: dict[str, Any] | None  # limits, spent, headroom after this request
    preflight: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "instanceType": self.instance_type,
            "region": self.region,
            "engine": self.engine,
            "simulated": self.simulated,
            "autoTerminateMinutes": self.ttl_minutes,
            "hardLifetimeMinutes": self.hard_lifetime_minutes,
            "diskSizeGb": self.disk_gb,
            "maxAttempts": self.max_attempts,
            "userId": self.user_id,
            "candidates": self.candidates,
            "projectedCost": float(self.projected_cost),
            "budget": self.budget,
            "preflight": self.preflight,
            "warnings": self.warnings,
        }


def make_plan(service: Failover, request: ProvisionRequest, *, engine: str | None = None) -> Plan:
    valid, candidates, max_attempts = service.plan(request)
    engine_name = engine or service.default_engine
    eng = service.engine_for(engine_name)
    minutes = valid.auto_terminate_minutes
    rows = []
    for number, candidate in enumerate(candidates, start=1):
        gb_month = storage_price_gb_month(
            service.catalog,
            candidate.provider,
            valid.disk_size_gb,
            instance_type=candidate.instance_type,
        )
        ipv4 = public_ipv4_per_hour(candidate.provider, spot=candidate.spot)  # #24
        cost = projected_cost(candidate.price_per_hour, gb_month, valid.disk_size_gb, minutes, ipv4)
        rows.append(
            candidate.to_json()
            | {
                "order": number,
                "attempted": number <= max_attempts,
                "projectedCost": float(round_money(cost.total)),
            }
        )
    projected = Decimal(str(rows[0]["projectedCost"]))
    first = candidates[0]
    checks = eng.preflight(
        Target(
            provider=first.provider,
            region=first.region,
            instance_type=first.instance_type,
            vcpus=getattr(service.catalog.get(first.provider, first.instance_type), "vcpus", None),
            spot=first.spot,
        ),
        cheap=True,
    )
    preflight = [
        {"name": c.name, "state": c.state or ("PASS" if c.ok else "FAIL"), "detail": c.detail}
        for c in checks
    ]
    if not preflight:
        what = "simulated engine: no cloud is asked" if eng.simulated else "nothing to check"
        preflight = [{"name": "engine", "state": "CANNOT CHECK", "detail": what}]
    return Plan(
        provider=valid.provider,
        instance_type=valid.type.name,
        region=valid.region,
        engine=engine_name,
        simulated=eng.simulated,
        ttl_minutes=minutes,
        hard_lifetime_minutes=service.settings.hard_lifetime_minutes,
        disk_gb=valid.disk_size_gb,
        max_attempts=max_attempts,
        user_id=valid.user_id,
        candidates=rows,
        projected_cost=projected,
        budget=_headroom(service, valid.user_id, projected),
        preflight=preflight,
    )


def _headroom(service: Failover, user_id: str, projected: Decimal) -> dict[str, Any] | None:
    budget = load_budget(service.ledger, user_id)
    if budget is None:
        return None
    now = service.clock()
    out: dict[str, Any] = {"userId": user_id, "maxInstances": budget.max_instances}
    out["liveInstances"] = live_instances(service.ledger, user_id)
    for name, limit, (start, end) in (
        ("daily", budget.daily_usd, day_window(now)),
        ("monthly", budget.monthly_usd, month_window(now)),
    ):
        if limit is None:
            out[name] = None
            continue
        spent = user_spend(service.ledger, user_id, now=now, since=start, until=end)
        out[name] = {
            "limit": float(limit),
            "spent": float(round_money(spent)),
            "headroomAfter": float(round_money(Decimal(limit) - spent - projected)),
        }
    return out
