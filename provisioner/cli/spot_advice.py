"""`offers --spot`'s expected cost (#23): the ledger's observed preemption rates applied to the
spot prices (capacity/spot_advice.py), and how the table shows them."""

from __future__ import annotations

from typing import Any


def add_expected_cost(report: dict[str, Any]) -> None:
    from provisioner.capacity.spot_advice import REWORK, with_expected_cost
    from provisioner.cli.context import load_settings
    from provisioner.ledger.ledger import Ledger
    from provisioner.ledger.spot_history import spot_history

    ledger = Ledger(load_settings().effective_database_url)
    try:
        history = spot_history(ledger)
    finally:
        ledger.dispose()
    report["offers"] = with_expected_cost(report["offers"], history)
    report["rework"] = REWORK


def expected_cell(offer: dict[str, Any]) -> str:
    expected = offer.get("expectedCostPerHour")
    if expected is None:
        return "-"
    samples = offer["preemptionSamples"]
    if not samples:
        return f"{expected:.3f} (no history)"
    return f"{expected:.3f} ({offer['preemptionRate']:.0%} of {samples})"


def expected_note(offers: list[dict[str, Any]]) -> str:
    from provisioner.capacity.spot_advice import REWORK

    if not any(o.get("preemptionSamples") for o in offers):
        return (
            "expected $/h: no spot preemption history in this ledger yet, so it is the bare spot "
            "price"
        )
    return (
        f"expected $/h = spot x (1 + preemption rate x rework {REWORK}); rates observed in this "
        "ledger per provider/region/type (preempted of spot VMs launched); no history: bare price"
    )
