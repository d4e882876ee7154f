"""A bursty day replayed three ways (#22): a cold VM per job, a pool with --min 0, a pool with
--min 1. Prints $ spent and the submit -> start wait (p50/p90) of each.
# bench: no-database

A discrete-time simulation, no ledger, no SSH: the pools are driven by the real scaling decision
(`rules.scaling.decide`, called every sweep as the scheduler does) and everything else is a
model stated here: a VM is usable BOOT_S after launch (a real cloud: 1.5-7 min; SkyPilot measured
1m41s-3m35s), a job is followed by a SCRUB_S scrub, a VM bills from launch to destroy at the
on-demand list price with a 60 s minimum (AWS per-second billing), the queue is served oldest
first, a sweep runs every SWEEP_S. The day (seeded, so every run is the same): a trickle of
jobs all day plus three bursts. `simulate(arrivals, ...)` takes any list of (submit second,
runtime seconds): point it at a recorded or forecast day (the predictive-provisioning replay)
to compare the same three policies on it.

Usage: python bench/pool_bursty_day.py [--seed N] [--boot SECONDS] [--max N] [--idle MIN]
"""

from __future__ import annotations

import argparse
import random
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from provisioner.rules.scaling import PoolMember, PoolSettings, PoolState, decide

PRICE_PER_HOUR = 0.526  # g4dn.xlarge, AWS us-east-1 on-demand list price
MINIMUM_S = 60  # AWS bills per second with a 60 s minimum
SCRUB_S = 10
SWEEP_S = 15
DAY = 24 * 3600
T0 = datetime(2026, 1, 5, tzinfo=UTC)  # any fixed Monday; only differences matter


def bursty_day(seed: int) -> list[tuple[float, float]]:
    """(submit second, runtime seconds): ~4 short jobs an hour in working hours, 1 an hour at
    night, and bursts of 40, 25 and 60 jobs within 10 minutes at 09:30, 13:00 and 16:45."""
    rng = random.Random(seed)
    jobs: list[tuple[float, float]] = []
    t = 0.0
    while t < DAY:
        hour = t / 3600
        rate = 4 if 8 <= hour < 19 else 1  # jobs per hour
        t += rng.expovariate(rate / 3600)
        if t < DAY:
            jobs.append((t, rng.uniform(60, 600)))
    for at, count in ((9.5, 40), (13.0, 25), (16.75, 60)):
        for _ in range(count):
            jobs.append((at * 3600 + rng.uniform(0, 600), rng.uniform(60, 600)))
    return sorted(jobs)


@dataclass
class Vm:
    id: str
    launched: float
    ready: float
    state: PoolState = PoolState.WARMING
    idle_since: float | None = None
    busy_until: float = 0.0
    scrub_until: float = 0.0
    draining: bool = False
    ended: float | None = None


@dataclass
class Outcome:
    name: str
    waits: list[float] = field(default_factory=list)
    vm_seconds: list[float] = field(default_factory=list)
    peak: int = 0

    @property
    def dollars(self) -> float:
        return sum(max(s, MINIMUM_S) for s in self.vm_seconds) * PRICE_PER_HOUR / 3600

    def line(self) -> str:
        q = statistics.quantiles(self.waits, n=10)
        p50 = statistics.median(self.waits)
        return (
            f"{self.name:<24} ${self.dollars:>7.2f}  wait p50 {p50:>5.0f} s"
            f"  p90 {q[8]:>5.0f} s  max {max(self.waits):>5.0f} s  VMs launched "
            f"{len(self.vm_seconds):>4}  peak {self.peak}"
        )


def cold_per_job(arrivals: list[tuple[float, float]], boot: float) -> Outcome:
    """`run --down` per job: each waits a boot, its VM bills boot + run + scrub-free teardown."""
    out = Outcome("cold VM per job")
    ends: list[float] = []
    for submit, runtime in arrivals:
        out.waits.append(boot)
        out.vm_seconds.append(boot + runtime)
        ends.append(submit + boot + runtime)
    events = sorted([(s, 1) for s, _ in arrivals] + [(e, -1) for e in ends])
    level = 0
    for _, step in events:
        level += step
        out.peak = max(out.peak, level)
    return out


def simulate(
    arrivals: list[tuple[float, float]],
    settings: PoolSettings,
    *,
    boot: float,
    name: str,
    horizon: float | None = None,
) -> Outcome:
    """Drive one pool through the day, calling `decide` every sweep like ops/scheduler.py."""
    out = Outcome(name)
    vms: list[Vm] = []
    pending = list(arrivals)  # not yet submitted, oldest first
    queue: list[tuple[float, float]] = []  # queued (submit, runtime), oldest first
    serial = 0
    end = horizon if horizon is not None else max(s + r for s, r in arrivals) + 3600
    now = 0.0
    while now <= end or queue or any(v.state is PoolState.BUSY for v in vms):
        while pending and pending[0][0] <= now:
            queue.append(pending.pop(0))
        live = [v for v in vms if v.ended is None]
        for v in live:  # what the clock moved on: boots end, jobs end, scrubs end
            if v.state is PoolState.WARMING and v.ready <= now:
                v.state, v.idle_since = PoolState.IDLE, now
            if v.state is PoolState.BUSY and v.busy_until <= now:
                if v.draining:
                    v.ended = now
                else:
                    v.state, v.scrub_until = PoolState.SCRUBBING, now + SCRUB_S
            if v.state is PoolState.SCRUBBING and v.scrub_until <= now:
                v.state, v.idle_since = PoolState.IDLE, now
        _assign(vms, queue, now, out)
        live = [v for v in vms if v.ended is None]
        members = [
            PoolMember(
                v.id,
                PoolState.DRAINING if v.draining else v.state,
                T0 + timedelta(seconds=v.launched),
                None if v.idle_since is None else T0 + timedelta(seconds=v.idle_since),
            )
            for v in live
        ]
        decision = decide(settings, members, len(queue), T0 + timedelta(seconds=now))
        by_id = {v.id: v for v in live}
        for vm_id in decision.drain:
            v = by_id[vm_id]
            if v.state is PoolState.BUSY:
                v.draining = True
            else:
                v.ended = now
        for _ in range(decision.launch):
            serial += 1
            vms.append(Vm(f"vm-{serial}", launched=now, ready=now + boot))
        _assign(vms, queue, now, out)
        out.peak = max(out.peak, sum(1 for v in vms if v.ended is None))
        now += SWEEP_S
    for v in vms:
        out.vm_seconds.append((v.ended if v.ended is not None else now) - v.launched)
    return out


def _assign(vms: list[Vm], queue: list[tuple[float, float]], now: float, out: Outcome) -> None:
    idle = sorted(
        (v for v in vms if v.ended is None and v.state is PoolState.IDLE and not v.draining),
        key=lambda v: (v.idle_since or 0.0, v.id),
    )
    while queue and idle:
        submit, runtime = queue.pop(0)
        v = idle.pop(0)
        v.state, v.busy_until, v.idle_since = PoolState.BUSY, now + runtime, None
        out.waits.append(now - submit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--boot", type=float, default=150.0, help="seconds to a usable VM")
    parser.add_argument(
        "--max", type=int, nargs="+", default=[8, 40], help="the pools' --max (one run each)"
    )
    parser.add_argument("--idle", type=int, default=10, help="the pools' --idle-minutes")
    args = parser.parse_args()
    arrivals = bursty_day(args.seed)
    busy = sum(r for _, r in arrivals)
    print(
        f"bursty day (seed {args.seed}): {len(arrivals)} jobs, {busy / 3600:.1f} GPU-hours of "
        f"work; boot {args.boot:.0f} s, scrub {SCRUB_S} s, sweep every {SWEEP_S} s, "
        f"${PRICE_PER_HOUR}/h, pools --idle-minutes {args.idle}"
    )
    print(f"{'the work alone':<24} ${busy * PRICE_PER_HOUR / 3600:>7.2f}")
    print(cold_per_job(arrivals, args.boot).line())
    for maximum in args.max:
        for minimum in (0, 1):
            settings = PoolSettings(min=minimum, max=maximum, idle_minutes=args.idle)
            name = f"pool --min {minimum} --max {maximum}"
            print(simulate(arrivals, settings, boot=args.boot, name=name, horizon=DAY).line())


if __name__ == "__main__":
    main()
