"""The expected cost of a spot offer (#23): spot price x (1 + preemption rate x rework).

`rate` is the share of spot VMs of that provider/region/type that were preempted, observed in
this ledger (ledger/spot_history.py), shown with its sample count. `rework` is the share of a
preempted VM's run that is lost and paid again: 0.5 by default (a preemption lands, on
average, halfway through the run; a job that checkpoints loses less, pass a smaller one). With
no sample for an offer the bare spot price is its expected cost, and the offer says so. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REWORK = 0.5


def with_expected_cost(
    offers: list[dict[str, Any]],
    history: Mapping[tuple[str, str, str], tuple[int, int]],
    *,
    rework: float = REWORK,
) -> list[dict[str, Any]]:
    """Each spot offer (the JSON of capacity/offers.py) with `expectedCostPerHour`,
    `preemptionRate`, `preemptionSamples` (0: no history, the bare price) added."""
    out = []
    for offer in offers:
        spot = offer.get("spotCostPerHour")
        preempted, samples = history.get(
            (offer["provider"], offer["region"], offer["instanceType"]), (0, 0)
        )
        rate = preempted / samples if samples else None
        expected = None if spot is None else spot * (1 + (rate or 0.0) * rework)
        out.append(
            {
                **offer,
                "expectedCostPerHour": None if expected is None else round(expected, 6),
                "preemptionRate": None if rate is None else round(rate, 4),
                "preemptionSamples": samples,
            }
        )
    return out
