"""Engines by name. Importing this package imports no Pulumi code.

May import: provisioner.rules, provisioner.config and stacks (the two engine packages, pulumi/
and simulated/, only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.config import Settings
    from provisioner.engine.base import Engine

ENGINE_NAMES = ("pulumi", "simulated")


def create_engine(name: str, settings: Settings) -> Engine:
    if name == "simulated":
        from provisioner.engine.simulated.engine import SimulatedEngine

        return SimulatedEngine(settings)
    if name == "pulumi":
        from provisioner.engine.pulumi.engine import PulumiEngine

        return PulumiEngine(settings)
    raise ValueError(f"unknown engine {name!r} (choose from {', '.join(ENGINE_NAMES)})")
