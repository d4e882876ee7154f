"""Replay recorded jobs through the pools' scaling decision (#23): an event-driven simulation on a
virtual clock, no I/O, so a week of thousands of jobs replays in well under a second.

It calls THE SAME `rules.scaling.decide` the sweep runs (not a copy), at every event: a job's
arrival, a VM ready, a job's end, an idle timeout or max age expiring, a forecast floor changing.
Between decisions nothing can change, so deciding at events only is exact for a sweep that runs
continuously; the real sweep runs every few seconds, which adds at most that to each wait.

Modelled: a launch is usable after `boot` (the pool's measured cold start); a job takes the
oldest free IDLE VM (first come, first served: every VM serves every job, i.e. reuse=pool); a
VM bills from launch to drain. Not modelled: scrub time, billing minimums, per-user VMs,
priorities, failures and preemptions.

Cost: `busy` is VM time running jobs; `overhead` is warm-up plus idle (what the pool's owner
pays for warm capacity). `cold_per_job` is the baseline without a pool: one VM per job, each job
waits one boot and pays it.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from provisioner.rules.demand import percentile
from provisioner.rules.forecast import Schedule
from provisioner.rules.scaling import PoolMember, PoolSettings, PoolState, decide


@dataclass(frozen=True)
class ReplayJob:
    arrival: datetime
    runtime: timedelta


@dataclass(frozen=True)
class ReplayResult:
    label: str
    jobs: int
    busy_hours: float
    overhead_hours: float
    price_per_hour: Decimal
    wait_p50: float | None  # seconds
    wait_p90: float | None
    cold_starts: int  # VMs launched (each one pays a boot)
    peak_instances: int

    @property
    def overhead_cost(self) -> Decimal:
        return (Decimal(str(self.overhead_hours)) * self.price_per_hour).quantize(Decimal("0.01"))

    @property
    def total_cost(self) -> Decimal:
        hours = Decimal(str(self.busy_hours + self.overhead_hours))
        return (hours * self.price_per_hour).quantize(Decimal("0.01"))

    def to_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "jobs": self.jobs,
            "idleWarmCost": float(self.overhead_cost),
            "totalCost": float(self.total_cost),
            "idleWarmHours": round(self.overhead_hours, 2),
            "waitP50Seconds": self.wait_p50,
            "waitP90Seconds": self.wait_p90,
            "coldStarts": self.cold_starts,
            "peakInstances": self.peak_instances,
        }


@dataclass
class _Vm:
    id: str
    created: datetime
    state: PoolState = PoolState.WARMING
    idle_since: datetime | None = None
    busy_seconds: float = 0.0
    job_end: datetime | None = None
    gone: datetime | None = None
    _seen: PoolMember | None = None

    def member(self) -> PoolMember:
        """What `decide` sees of it; rebuilt only when its state changed."""
        m = self._seen
        if m is None or m.state is not self.state or m.idle_since != self.idle_since:
            m = self._seen = PoolMember(self.id, self.state, self.created, self.idle_since)
        return m


def cold_per_job(jobs: Sequence[ReplayJob], boot: timedelta, price: Decimal) -> ReplayResult:
    waits = [boot.total_seconds()] * len(jobs)
    busy = sum(j.runtime.total_seconds() for j in jobs) / 3600
    ends: list[tuple[datetime, int]] = []
    for j in jobs:
        ends += [(j.arrival, 1), (j.arrival + boot + j.runtime, -1)]
    level = peak = 0
    for _, d in sorted(ends):
        level += d
        peak = max(peak, level)
    return ReplayResult(
        "cold per job",
        len(jobs),
        busy,
        len(jobs) * boot.total_seconds() / 3600,
        price,
        percentile(waits, 0.5),
        percentile(waits, 0.9),
        len(jobs),
        peak,
    )


def replay(
    label: str,
    jobs: Sequence[ReplayJob],
    settings: PoolSettings,
    *,
    boot: timedelta,
    price: Decimal,
    start: datetime,
    end: datetime,
    floor: Callable[[datetime], int] | None = None,
    floor_changes: Sequence[datetime] = (),
) -> ReplayResult:
    """Replay `jobs` (any order) from `start` to `end` through `decide`. `floor(t)`: a forecast's
    floor at t; `floor_changes`: the instants it may change (decisions are taken there too)."""
    # (at, seq, kind, ref); kind: arrive | ready | done | tick. Plain tuples: the heap compares
    # them millions of times.
    events: list[tuple[datetime, int, str, object]] = []
    seq = 0

    def push(at: datetime, kind: str, ref: object = None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, ref))

    for j in jobs:
        if start <= j.arrival < end:
            push(j.arrival, "arrive", j)
    for at in floor_changes:
        if start <= at < end:
            push(at, "tick")
    push(start, "tick")
    vms: dict[str, _Vm] = {}
    live: dict[str, _Vm] = {}
    queue: deque[ReplayJob] = deque()
    waits: list[float] = []
    launches = 0
    peak = 0
    ticks: set[datetime] = set()
    timeout = timedelta(minutes=settings.idle_minutes)
    age = None if settings.max_age_minutes is None else timedelta(minutes=settings.max_age_minutes)

    def retire(vm: _Vm, at: datetime) -> None:
        vm.gone = at
        live.pop(vm.id, None)

    def assign(now: datetime) -> None:
        if not queue:
            return
        free = sorted(
            (v for v in live.values() if v.state is PoolState.IDLE),
            key=lambda v: (v.idle_since or v.created, v.id),
        )
        for vm in free:
            if not queue:
                return
            job = queue.popleft()
            waits.append((now - job.arrival).total_seconds())
            vm.state = PoolState.BUSY
            vm.idle_since = None
            vm.busy_seconds += job.runtime.total_seconds()
            vm.job_end = now + job.runtime
            push(now + job.runtime, "done", vm)

    def later(at: datetime, now: datetime) -> None:
        """A decision at `at`: only ahead of the virtual clock (a past instant would run time
        backwards), once per instant."""
        if now < at < end and at not in ticks:
            ticks.add(at)
            push(at, "tick")

    while events:
        now, _, kind, ref = heapq.heappop(events)
        if now >= end:
            break
        if kind == "arrive":
            assert isinstance(ref, ReplayJob)
            queue.append(ref)
        elif kind == "ready":
            vm = ref
            assert isinstance(vm, _Vm)
            vm.state, vm.idle_since = PoolState.IDLE, now
        elif kind == "done":
            vm = ref
            assert isinstance(vm, _Vm)
            if vm.state is PoolState.DRAINING:
                retire(vm, now)  # and decide: its room under max may be wanted now
            else:
                vm.state, vm.idle_since = PoolState.IDLE, now
        # Events at the same instant are taken together, then one decision (as one sweep).
        if events and events[0][0] == now:
            continue
        assign(now)
        members = [v.member() for v in live.values()]
        decision = decide(
            settings, members, len(queue), now, floor=None if floor is None else floor(now)
        )
        for vm_id in decision.drain:
            vm = live[vm_id]
            if vm.state is PoolState.BUSY:
                vm.state = PoolState.DRAINING
            else:
                retire(vm, now)
        for _ in range(decision.launch):
            launches += 1
            vm = _Vm(f"vm-{launches}", now)
            vms[vm.id] = live[vm.id] = vm
            push(now + boot, "ready", vm)
        peak = max(peak, len(live))
        for vm in live.values():
            if vm.state is PoolState.IDLE and vm.idle_since is not None:
                later(vm.idle_since + timeout, now)
            if age is not None:
                later(vm.created + age, now)
    busy = overhead = 0.0
    for vm in vms.values():
        life = ((vm.gone or end) - vm.created).total_seconds()
        used = vm.busy_seconds
        if vm.gone is None and vm.job_end is not None and vm.job_end > end:
            used -= (vm.job_end - end).total_seconds()  # the part of its job after the window
        busy += used
        overhead += max(0.0, life - used)
    return ReplayResult(
        label,
        len(waits) + len(queue),
        busy / 3600,
        overhead / 3600,
        price,
        percentile(waits, 0.5),
        percentile(waits, 0.9),
        launches,
        peak,
    )


def compare(
    jobs: Sequence[ReplayJob],
    settings: PoolSettings,
    schedule: Schedule,
    *,
    boot: timedelta,
    price: Decimal,
    start: datetime,
    end: datetime,
) -> list[ReplayResult]:
    """Side by side: cold per job, the pool's settings, min 0, a flat min at the schedule's
    peak, and the schedule (on top of the pool's settings)."""
    peak = max(schedule.hours)
    flat = PoolSettings(peak, settings.max, settings.idle_minutes, settings.max_age_minutes)
    zero = PoolSettings(0, settings.max, settings.idle_minutes, settings.max_age_minutes)
    common = {"boot": boot, "price": price, "start": start, "end": end}
    return [
        cold_per_job([j for j in jobs if start <= j.arrival < end], boot, price),
        replay(f"pool now (min {settings.min})", jobs, settings, **common),  # type: ignore[arg-type]
        replay("min 0", jobs, zero, **common),  # type: ignore[arg-type]
        replay(f"flat min {peak} (the peak)", jobs, flat, **common),  # type: ignore[arg-type]
        replay(
            "proposed schedule",
            jobs,
            settings,
            floor=schedule.floor_at,
            floor_changes=schedule.changes(start, end),
            **common,  # type: ignore[arg-type]
        ),
    ]
