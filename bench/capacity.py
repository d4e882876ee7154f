"""Capacity (#12): the overhead of one failed attempt, and the reaper's liveness check.

1. A plain up (one candidate, lands at once) against an up whose first zone has no capacity
   (PROVISIONER_SIM_CAPACITY): the difference is one failed attempt's up, its complete destroy,
   its records, and the next attempt's up. With PROVISIONER_SIM_DELAY > 0 each simulated up and
   destroy takes that long, as a stand-in for the cloud's own minutes.
2. A reaper sweep over N live instances, whose liveness step asks the engine about every one
   (the simulated engine reads each stack's file; the Pulumi engine runs one `pulumi refresh`
   per instance, reap_parallel at a time).

Real SQLite ledger, the real programs under Pulumi's mocks. Prints figures; asserts nothing.

Usage: .venv/bin/python bench/capacity.py [--runs N] [--live N] [--sim-delay S]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from provisioner.config import Settings
from provisioner.ops.reap_expired import preempted
from provisioner.ops.reaper import Reaper
from provisioner.ops.service import Provisioner
from provisioner.rules.validation import ProvisionRequest

REQUEST = ProvisionRequest(
    provider="AWS", instance_type="g4dn.xlarge", region="us-east-1", user_id="bench"
)


def timed_ups(home: Path, runs: int, delay: float, capacity: str) -> list[float]:
    service = Provisioner(
        Settings(home=home, engine="simulated", sim_delay=delay, sim_capacity=capacity)
    )
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        out = service.provision(REQUEST)
        seconds.append(time.perf_counter() - start)
        assert len(out.attempts) == (2 if capacity else 1)
        service.terminate(out.id)
    return seconds


def sweep_cost(home: Path, live: int) -> tuple[float, float, int]:
    service = Provisioner(Settings(home=home, engine="simulated", orphan_grace_minutes=60))
    for _ in range(live):
        service.provision(replace(REQUEST, auto_terminate_minutes=120))
    reaper = Reaper(service)
    start = time.perf_counter()
    result = reaper.sweep()
    whole = time.perf_counter() - start
    start = time.perf_counter()
    preempted(reaper, type(result)(at=result.at))
    liveness = time.perf_counter() - start
    return whole, liveness, result.preempted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--live", type=int, default=100)
    parser.add_argument("--sim-delay", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain = timed_ups(root / "plain", args.runs, args.sim_delay, "")
        failover = timed_ups(
            root / "failover", args.runs, args.sim_delay, "aws/us-east-1/us-east-1a/*=none"
        )
        whole, liveness, preempted = sweep_cost(root / "sweep", args.live)
    p, f = statistics.median(plain), statistics.median(failover)
    print(f"plain up (1 attempt), median of {args.runs}:          {p:7.3f} s")
    print(f"up after one refused attempt (2 attempts), median:  {f:7.3f} s")
    print(f"overhead of one failed attempt (destroy + next up): {f - p:7.3f} s ({f / p:.2f}x)")
    print(f"sweep over {args.live} live instances:                  {whole:7.3f} s")
    print(
        f"  of which the liveness step:                       {liveness:7.3f} s "
        f"({liveness / args.live * 1000:.2f} ms per instance; {preempted} preempted)"
    )
    print(f"(PROVISIONER_SIM_DELAY={args.sim_delay} s per simulated up/destroy)")


if __name__ == "__main__":
    main()
