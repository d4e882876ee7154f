"""The one place that composes ledger + lifecycle + engine + catalog.

`Provisioner` is the Python API; the CLI and the REST API are thin adapters over it. Its parts:
service_core.py (shared plumbing and cost), provisioning.py, termination.py, and here the seed's
queries, budgets and reports.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from provisioner.engine.base import HistoryEntry
from provisioner.ledger.archive import stored_history
from provisioner.ledger.models import EventOut, InstanceOut, StatisticsOut
from provisioner.ledger.reads import statistics_out
from provisioner.ops.provisioning import Provisioning
from provisioner.ops.service_core import Clock, utc_now
from provisioner.ops.termination import Termination
from provisioner.rules import lifecycle
from provisioner.rules.errors import NotFoundError, ValidationError
from provisioner.rules.lifecycle import Status

if TYPE_CHECKING:
    from provisioner.ops.budgets import BudgetOut
    from provisioner.ops.planning import Plan
    from provisioner.rules.validation import ProvisionRequest

__all__ = ["Clock", "Provisioner", "utc_now"]


class Provisioner(Provisioning, Termination):
    """Provision, watch and terminate GPU instances; every state change lands in the ledger.

    `engine` overrides the engine used for new instances (default: `settings.engine`). Existing
    instances always use the engine that made them.
    """

    def dry_run(self, request: ProvisionRequest, *, engine: str | None = None) -> Plan:
        """What `up` would do (candidates in failover order, cost, budget, preflight); nothing
        is recorded or created."""
        from provisioner.ops.planning import make_plan

        return make_plan(self, request, engine=engine)

    # -- the rest of the seed's API ------------------------------------------------------------

    def get(self, instance_id: str) -> InstanceOut:
        return self.to_out(self.ledger.require(instance_id))

    def list(
        self,
        user_id: str | None = None,
        status: Status | str | None = None,
        *,
        task_id: str | None = None,
    ) -> builtins.list[InstanceOut]:
        wanted = lifecycle.parse_status(status) if isinstance(status, str) else status
        return [
            self.to_out(i)
            for i in self.ledger.list(user_id=user_id, status=wanted, task_id=task_id)
        ]

    def newest(
        self,
        user_id: str | None = None,
        status: Status | None = None,
        *,
        since: datetime | None = None,
        limit: int | None = 50,
    ) -> tuple[builtins.list[InstanceOut], int]:
        """The newest `limit` (None: all) matching instances and how many match in all."""
        rows, total = self.ledger.newest(user_id=user_id, status=status, since=since, limit=limit)
        return [self.to_out(i) for i in rows], total

    def iter_newest(
        self,
        user_id: str | None = None,
        status: Status | None = None,
        *,
        since: datetime | None = None,
    ) -> Iterator[InstanceOut]:
        """Every matching instance, newest first, read a batch at a time (`list --all`)."""
        for rows in self.ledger.iter_newest(user_id=user_id, status=status, since=since):
            yield from (self.to_out(i) for i in rows)

    def set_status(self, instance_id: str, status: Status | str) -> InstanceOut:
        """The task started (RUNNING) or finished (READY)."""
        target = lifecycle.parse_status(status) if isinstance(status, str) else status
        if target not in (Status.RUNNING, Status.READY):
            raise ValidationError(
                "status", f"Status can only be set to RUNNING or READY (got {target.value})"
            )
        instance = self.ledger.require(instance_id)
        if Status(instance.status) is target:
            return self.to_out(instance)
        return self.to_out(self._move(instance, target))

    def extend(self, instance_id: str, minutes: int) -> InstanceOut:
        """Push the instance's expiresAt by `minutes` (from now if it already passed), never past
        the hard deadline set at creation."""
        from provisioner.ops.lifetimes import extend

        extension = extend(
            self.ledger,
            instance_id,
            minutes,
            now=self.clock(),
            max_minutes=self.settings.max_ttl_minutes,
        )
        return self.to_out(extension.instance)

    def statistics(
        self,
        user_id: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> StatisticsOut:
        """The seed's statistics over instances created in [since, until) (default: all)."""
        return statistics_out(
            self.ledger,
            billing=self.catalog.billing,
            now=self.clock(),
            user_id=user_id,
            since=since,
            until=until,
        )

    def events(self, instance_id: str) -> builtins.list[EventOut]:
        self.ledger.require(instance_id)
        return [
            EventOut(type=e.type, status=e.status, at=e.at, detail=e.detail)
            for e in self.ledger.events(instance_id)
        ]

    def history(self, instance_id: str) -> builtins.list[HistoryEntry] | None:
        """The stack's history: from the ledger once `gc` exported it (#13), else the backend."""
        instance = self.ledger.require(instance_id)
        stored = stored_history(self.ledger, instance_id)
        if stored:
            return [
                HistoryEntry(
                    version=row.version,
                    kind=row.kind,
                    result=row.result,
                    start_time=row.start_time,
                    end_time=row.end_time,
                    message=row.message,
                    resource_changes=dict(row.resource_changes or {}),
                )
                for row in stored
            ]
        return self.engine_for(instance.engine).history(instance.stack_name)

    # -- cost: budgets and reports (#5) ---------------------------------------------------------

    def set_budget(
        self,
        user_id: str,
        *,
        daily_usd: Decimal | float | str | None = None,
        monthly_usd: Decimal | float | str | None = None,
        max_instances: int | None = None,
    ) -> BudgetOut:
        """Create or change a user's limits; limits not given keep their current value."""
        from provisioner.ops.budgets import save_budget, standing
        from provisioner.rules.validation import validate_id

        user_id = validate_id("userId", "User id", user_id)
        budget = save_budget(
            self.ledger,
            user_id,
            at=self.clock(),
            daily_usd=daily_usd,
            monthly_usd=monthly_usd,
            max_instances=max_instances,
        )
        return standing(self.ledger, budget, now=self.clock())

    def get_budget(self, user_id: str) -> BudgetOut:
        """The user's limits and their spend today / this month; NotFoundError if none."""
        from provisioner.ops.budgets import load_budget, standing

        budget = load_budget(self.ledger, user_id)
        if budget is None:
            raise NotFoundError(f"User {user_id} has no budget")
        return standing(self.ledger, budget, now=self.clock())

    def clear_budget(self, user_id: str) -> bool:
        """Remove the user's limits; False if there were none."""
        from provisioner.ops.budgets import delete_budget

        return delete_budget(self.ledger, user_id)

    def list_budgets(self) -> builtins.list[BudgetOut]:
        from provisioner.ops.budgets import all_budgets, standing

        now = self.clock()
        return [standing(self.ledger, b, now=now) for b in all_budgets(self.ledger)]

    def cost_report(
        self, *, days: int = 30, by: str = "user", user_id: str | None = None
    ) -> dict[str, Any]:
        """Spend over the last `days` UTC days grouped `by` user|provider|type|day (JSON-able)."""
        from provisioner.pricing.cost_report import build_report

        return build_report(
            self.ledger, now=self.clock(), days=days, by=by, user_id=user_id, catalog=self.catalog
        )

    # -- beyond the seed: paging (#3) ------------------------------------------------------------

    def page(
        self,
        user_id: str | None = None,
        status: Status | None = None,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> tuple[builtins.list[InstanceOut], bool]:
        """Up to `limit` instances newest first after the (createdAt, id) `after`; and whether
        there are more."""
        rows = self.ledger.page(user_id=user_id, status=status, limit=limit + 1, after=after)
        return [self.to_out(i) for i in rows[:limit]], len(rows) > limit
