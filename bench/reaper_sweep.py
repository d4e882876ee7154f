"""How long a reaper sweep takes over a ledger of N live simulated instances: an idle sweep
(nothing due: the cost every interval), and the sweep that terminates all N once they expire.
Prints figures.

Usage: .venv/bin/python bench/reaper_sweep.py [--instances N] [--delay SECONDS]
(--delay: how long each simulated destroy takes, to see the sweep's parallel destroys)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from provisioner.config import Settings
from provisioner.ops.reaper import Reaper
from provisioner.ops.service import Provisioner
from provisioner.rules.validation import ProvisionRequest


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each destroy takes")
    args = parser.parse_args()
    clock = Clock()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), engine="simulated")
        service = Provisioner(settings, clock=clock)
        request = ProvisionRequest(
            provider="AWS", instance_type="g4dn.xlarge", user_id="bench", auto_terminate_minutes=5
        )
        for _ in range(args.instances):
            service.provision(request)
        reaper = Reaper(
            Provisioner(settings.model_copy(update={"sim_delay": args.delay}), clock=clock)
        )
        idle = []
        for _ in range(5):
            started = time.perf_counter()
            result = reaper.sweep()
            idle.append(time.perf_counter() - started)
            assert result.expired == 0
        clock.now += timedelta(minutes=6)
        started = time.perf_counter()
        result = reaper.sweep()
        busy = time.perf_counter() - started
        n = args.instances
        print(
            f"idle sweep over {n} live instances and stacks: {min(idle) * 1000:.0f} ms (best of 5)"
        )
        print(
            f"sweep terminating {result.expired} expired instances: {busy:.2f} s "
            f"({busy / max(1, result.expired) * 1000:.1f} ms each; destroys take {args.delay:g} s, "
            f"{settings.reap_parallel} at a time)"
        )


if __name__ == "__main__":
    main()
