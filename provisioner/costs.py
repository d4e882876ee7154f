"""Money. Decimal throughout; floats only at the JSON edge."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

SECONDS_PER_HOUR = Decimal(3600)
QUANTUM = Decimal("0.000001")


def round_money(value: Decimal) -> Decimal:
    return value.quantize(QUANTUM, rounding=ROUND_HALF_UP)


def accrued_cost(cost_per_hour: Decimal, start: datetime, end: datetime) -> Decimal:
    """costPerHour x hours between start and end (never negative)."""
    seconds = max(Decimal(0), Decimal(str((end - start).total_seconds())))
    return round_money(cost_per_hour * seconds / SECONDS_PER_HOUR)
