"""Jobs (#22): states, legal moves, event names, and the exact split of an instance's cost over
its usage segments. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from provisioner.rules.errors import InvalidTransitionError, ValidationError, shown


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    STARTING = "STARTING"  # claimed with an instance; the detached start is under way
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    # QUEUED -> FAILED: refused while waiting (its pool deleted).
    JobStatus.QUEUED: frozenset({JobStatus.STARTING, JobStatus.CANCELLED, JobStatus.FAILED}),
    # STARTING/RUNNING -> QUEUED: its VM was preempted and a retry is left.
    JobStatus.STARTING: frozenset(
        {JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.RUNNING: frozenset(
        {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.QUEUED}
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}
JOB_FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
JOB_EVENTS: dict[JobStatus, str] = {
    JobStatus.QUEUED: "job:queued",
    JobStatus.STARTING: "job:starting",
    JobStatus.RUNNING: "job:started",
    JobStatus.SUCCEEDED: "job:succeeded",
    JobStatus.FAILED: "job:failed",
    JobStatus.CANCELLED: "job:cancelled",
}
REUSE = ("user", "pool")
SEGMENT_KINDS = ("warm-up", "idle", "job", "scrub", "drain")


def parse_job_status(value: str) -> JobStatus:
    try:
        return JobStatus(value.upper())
    except ValueError:
        names = ", ".join(s.value for s in JobStatus)
        raise ValidationError(
            "status", f"Status must be one of {names} (got {shown(value)})"
        ) from None


def check_job_transition(job_id: str, current: JobStatus, target: JobStatus) -> None:
    if target not in JOB_TRANSITIONS[current]:
        raise InvalidTransitionError(
            f"Job {job_id} is {current.value}; it cannot move to {target.value}"
        )


def validate_pool_settings(
    minimum: int, maximum: int, idle_minutes: int, max_age: int | None, reuse: str
) -> None:
    if minimum < 0:
        raise ValidationError("min", f"--min must be 0 or more (got {minimum})")
    if maximum < 1:
        raise ValidationError("max", f"--max must be 1 or more (got {maximum})")
    if minimum > maximum:
        raise ValidationError("min", f"--min ({minimum}) must not be above --max ({maximum})")
    if idle_minutes < 1:
        raise ValidationError(
            "idleMinutes", f"--idle-minutes must be 1 or more (got {idle_minutes})"
        )
    if max_age is not None and max_age < 5:
        raise ValidationError(
            "maxAgeMinutes", f"--max-age must be 5 minutes or more (got {max_age})"
        )
    if reuse not in REUSE:
        raise ValidationError("reuse", f"--reuse must be user or pool (got {shown(reuse)})")


MICRO = Decimal("0.000001")


def split_cost(total: Decimal, weights: Sequence[int]) -> list[Decimal]:
    """`total` (micro-dollars) split over segments in proportion to `weights` (their lengths in
    microseconds), by largest remainder: each share is within one micro-dollar of its exact
    pro-rata value and the shares sum to `total` exactly. All-zero weights: the first takes all."""
    units = int((total / MICRO).to_integral_value(rounding=ROUND_FLOOR))
    remainder_units = total - units * MICRO  # below a micro-dollar: goes to the first share
    if not weights:
        return []
    whole = sum(weights)
    if whole <= 0:
        return [total] + [Decimal(0)] * (len(weights) - 1)
    floors = [units * w // whole for w in weights]
    left = units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-((units * weights[i]) % whole), i))
    for i in order[:left]:
        floors[i] += 1
    shares = [f * MICRO for f in floors]
    shares[0] += remainder_units
    return shares
