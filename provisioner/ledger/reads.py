"""Reads for the read-only commands without the service (#21): `provisioner stats` opens the
ledger and reads the statistics here, so it does not import the service's provisioning,
failover, engines and archive. `Provisioner.statistics` is this same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from provisioner.config import Settings
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import CostBreakdownOut, StatisticsOut
from provisioner.rules.costs import round_money
from provisioner.rules.errors import ValidationError


def open_ledger(settings: Settings) -> Ledger:
    """The ledger the service would open: the data dir made, migrations applied on first use."""
    settings.ensure_home()
    return Ledger(settings.effective_database_url)


def statistics_out(
    ledger: Ledger,
    *,
    billing: Mapping[str, Mapping[str, Any]],
    now: datetime,
    user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StatisticsOut:
    """The seed's statistics over instances created in [since, until) (default: all)."""
    if since is not None and until is not None and since >= until:
        raise ValidationError(
            "until",
            f"The window is empty: until ({until:%Y-%m-%d %H:%M}Z) must be after "
            f"since ({since:%Y-%m-%d %H:%M}Z)",
        )
    stats = ledger.statistics(now=now, user_id=user_id, since=since, until=until, billing=billing)
    return StatisticsOut(
        total_provisioned=stats["total_provisioned"],
        currently_running=stats["currently_running"],
        total_cost=float(round_money(stats["total_cost"])),
        average_duration=stats["average_duration_hours"],
        average_cost=float(stats["average_cost"]),
        provider_breakdown=stats["provider_breakdown"],
        instance_type_breakdown=stats["instance_type_breakdown"],
        cost_breakdown=CostBreakdownOut(
            compute=float(stats["compute_cost"]), storage=float(stats["storage_cost"])
        ),
    )
