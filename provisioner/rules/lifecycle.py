"""The instance state machine: states and legal transitions. Pure: no I/O, no clock."""

from __future__ import annotations

from enum import StrEnum

from provisioner.rules.errors import InvalidTransitionError, ValidationError, shown


class StatusError(ValidationError, ValueError):
    """Not a status name: bad input (exit 2, HTTP 400) wherever it is parsed."""


class Status(StrEnum):
    PROVISIONING = "PROVISIONING"  # the stack's `up` is running
    CONFIGURING = "CONFIGURING"  # the VM exists and is booting
    READY = "READY"  # usable
    RUNNING = "RUNNING"  # a task is using it (set by the user)
    STOPPING = "STOPPING"  # `destroy` is running (or failed and awaits a retry)
    TERMINATED = "TERMINATED"  # destroy confirmed, nothing left billing
    FAILED = "FAILED"  # provisioning failed; its stack was destroyed (or that is being retried)


# Every legal move. STOPPING -> STOPPING is a retried destroy; FAILED -> FAILED records the
# outcome of a retried clean-up of a failed up.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PROVISIONING: frozenset({Status.CONFIGURING, Status.FAILED}),
    Status.CONFIGURING: frozenset({Status.READY, Status.STOPPING, Status.FAILED}),
    Status.READY: frozenset({Status.RUNNING, Status.STOPPING}),
    Status.RUNNING: frozenset({Status.READY, Status.STOPPING}),
    # STOPPING -> PROVISIONING: a preempted VM's request relaunched under the same id (#12).
    Status.STOPPING: frozenset({Status.STOPPING, Status.TERMINATED, Status.PROVISIONING}),
    Status.TERMINATED: frozenset(),
    Status.FAILED: frozenset({Status.FAILED}),
}

# States whose cloud resources may exist and bill.
ACTIVE = frozenset(
    {Status.PROVISIONING, Status.CONFIGURING, Status.READY, Status.RUNNING, Status.STOPPING}
)
FINAL = frozenset({Status.TERMINATED, Status.FAILED})
# States the reaper destroys once their expiry passes (a VM exists; no operation owns it).
EXPIRABLE = (Status.CONFIGURING, Status.READY, Status.RUNNING)
# States from which a user (or the reaper) may ask for termination.
TERMINABLE = frozenset({Status.CONFIGURING, Status.READY, Status.RUNNING, Status.STOPPING})
# The seed's event names, emitted on entering each state.
EVENT_NAMES: dict[Status, str] = {
    Status.PROVISIONING: "instance:provisioning",
    Status.CONFIGURING: "instance:configuring",
    Status.READY: "instance:ready",
    Status.RUNNING: "instance:running",
    Status.STOPPING: "instance:stopping",
    Status.TERMINATED: "instance:terminated",
    Status.FAILED: "instance:error",
}
SEED_EVENTS = tuple(EVENT_NAMES.values())


def parse_status(value: str) -> Status:
    try:
        return Status(value.upper())
    except ValueError:
        names = ", ".join(s.value for s in Status)
        raise StatusError("status", f"Status must be one of {names} (got {shown(value)})") from None


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def check_transition(instance_id: str, current: Status, target: Status) -> None:
    if not can_transition(current, target):
        raise InvalidTransitionError(
            f"Instance {instance_id} is {current.value}; it cannot move to {target.value}"
        )
