"""Money. Decimal throughout; floats only at the JSON edge."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

SECONDS_PER_HOUR = Decimal(3600)
QUANTUM = Decimal("0.000001")


def round_money(value: Decimal) -> Decimal:
    return value.quantize(QUANTUM, rounding=ROUND_HALF_UP)
