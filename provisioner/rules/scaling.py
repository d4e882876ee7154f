"""The pool scaling decision (#22): a pure function of plain dataclasses, no I/O, no clock of its
own. The scheduler (ops/scheduler.py) calls it once per pool per sweep; a replay (bench/, and the
later `pool forecast`) calls it over recorded history at any speed.

Rules:
- launch `clamp(queued - idle - warming - scrubbing, 0, max - current)`, plus what `min` (or a
  forecast's floor, which only ever raises `min`) still needs: warming and scrubbing instances
  count as supply, so a queue that waits for booting or cleaning VMs never launches more (the
  over-launch KEDA users report); a scrub that fails drains its VM, and the next sweep, which no
  longer sees it, launches;
- never above `max` (instances that are draining still count: they still bill);
- scale in only when nothing is queued for the pool, only IDLE instances idle past the timeout,
  and never below the floor; the longest idle go first;
- recycle at max age: an instance older than `max_age` is drained (IDLE ones now; BUSY ones stop
  taking jobs and are drained once their job ends), and the floor is refilled by new launches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class PoolState(StrEnum):
    WARMING = "WARMING"  # launched, not yet usable
    IDLE = "IDLE"  # usable, no job
    BUSY = "BUSY"  # running a job
    SCRUBBING = "SCRUBBING"  # being cleaned after a job
    DRAINING = "DRAINING"  # leaving the pool: destroyed once no job runs on it


@dataclass(frozen=True)
class PoolSettings:
    min: int
    max: int
    idle_minutes: int
    max_age_minutes: int | None = None


@dataclass(frozen=True)
class PoolMember:
    id: str
    state: PoolState
    created_at: datetime
    idle_since: datetime | None = None  # when it last became IDLE
    # False: an IDLE VM no queued job may use (reuse=user: it served another user). It is no
    # supply for the queue, and with the pool at max it is replaced so the queue cannot starve.
    serves_queue: bool = True


@dataclass(frozen=True)
class Decision:
    launch: int = 0
    drain: tuple[str, ...] = ()  # ids to drain now (IDLE ones: destroy; BUSY ones: after the job)
    reasons: tuple[str, ...] = field(default=())


def decide(
    settings: PoolSettings,
    members: list[PoolMember] | tuple[PoolMember, ...],
    queued: int,
    now: datetime,
    *,
    floor: int | None = None,
) -> Decision:
    """What the pool should do now. `queued`: jobs waiting for this pool; `floor`: a forecast's
    minimum, used only when it is above `settings.min` (a forecast never lowers the floor)."""
    want_min = settings.min if floor is None else max(settings.min, floor)
    want_min = min(want_min, settings.max)
    reasons: list[str] = []
    drain: list[str] = []
    # Recycle first: what is past max age leaves the supply.
    if settings.max_age_minutes is not None:
        limit = timedelta(minutes=settings.max_age_minutes)
        for m in members:
            if m.state in (PoolState.IDLE, PoolState.BUSY) and now - m.created_at >= limit:
                drain.append(m.id)
                reasons.append(f"recycle {m.id}: older than {settings.max_age_minutes} min")
    drained = set(drain)
    staying = [m for m in members if m.id not in drained and m.state is not PoolState.DRAINING]
    # Every member bills until destroyed: draining ones count against max too.
    billing = len(members)
    idle = [m for m in staying if m.state is PoolState.IDLE]
    warming = [m for m in staying if m.state is PoolState.WARMING]
    supply = len(staying)
    room = max(0, settings.max - billing)
    # IDLE now, or IDLE once its scrub ends: supply for the queue if a queued job may use it.
    useful = [
        m for m in staying if m.state in (PoolState.IDLE, PoolState.SCRUBBING) and m.serves_queue
    ]
    for_queue = max(0, queued - len(useful) - len(warming))
    for_min = max(0, want_min - supply)
    launch = min(max(for_queue, for_min), room)
    if queued and launch < for_queue:
        # At max with idle VMs nobody queued may use: replace them (freed room launches next).
        unusable = sorted(
            (m for m in idle if not m.serves_queue),
            key=lambda m: (m.idle_since or m.created_at, m.id),
        )
        for m in unusable[: for_queue - launch]:
            drain.append(m.id)
            reasons.append(f"replace {m.id}: idle, but it may serve none of the queued jobs")
    if launch:
        reasons.append(
            f"launch {launch}: {queued} queued, {len(useful)} idle or scrubbing, "
            f"{len(warming)} warming, "
            f"min {want_min}, {billing}/{settings.max} in the pool"
        )
    # Scale in: only with an empty queue, only idle past the timeout, never below the floor.
    if queued == 0:
        timeout = timedelta(minutes=settings.idle_minutes)
        expired = sorted(
            (m for m in idle if m.idle_since is not None and now - m.idle_since >= timeout),
            key=lambda m: (m.idle_since, m.id),
        )
        spare = supply - want_min
        for m in expired[: max(0, spare)]:
            drain.append(m.id)
            reasons.append(f"scale in {m.id}: idle {settings.idle_minutes}+ min, above min")
    return Decision(launch=launch, drain=tuple(drain), reasons=tuple(reasons))
