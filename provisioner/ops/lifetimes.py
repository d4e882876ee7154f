"""Extending an instance's life: `expiresAt` moves later, never past the hard deadline.

The hard deadline (createdAt + PROVISIONER_HARD_LIFETIME_MINUTES) is fixed at creation; the on-VM
deadman fires then whatever the ledger says, so nothing extends past it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import Instance, InstanceEvent
from provisioner.rules.errors import ConflictError, NotFoundError, ValidationError, shown_id
from provisioner.rules.lifecycle import Status

# States whose expiry can still move: the VM is (being) made and no destroy has started.
EXTENDABLE = frozenset({Status.PROVISIONING, Status.CONFIGURING, Status.READY, Status.RUNNING})


@dataclass(frozen=True)
class Extension:
    instance: Instance
    previous: datetime
    capped: bool  # the hard deadline cut the extension short


def new_expiry(instance: Instance, minutes: int, now: datetime) -> tuple[datetime, bool]:
    """`minutes` past the later of the current expiry and now, capped at the hard deadline."""
    wanted = max(instance.expires_at, now) + timedelta(minutes=minutes)
    if wanted >= instance.hard_deadline:
        return instance.hard_deadline, wanted > instance.hard_deadline
    return wanted, False


def extend(
    ledger: Ledger, instance_id: str, minutes: int, *, now: datetime, max_minutes: int
) -> Extension:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= max_minutes:
        raise ValidationError(
            "minutes", f"Extension must be between 1 and {max_minutes} minutes (got {minutes})"
        )
    instance = ledger.require(instance_id)
    if Status(instance.status) not in EXTENDABLE:
        raise ConflictError(
            f"Instance {instance_id} is {instance.status}; only a live instance can be extended"
        )
    expires, capped = new_expiry(instance, minutes, now)
    if expires <= instance.expires_at:
        raise ValidationError(
            "minutes",
            f"Instance {instance_id} already expires at its hard deadline "
            f"{instance.hard_deadline:%Y-%m-%d %H:%M:%SZ}; nothing outlives it",
        )
    detail = f"expiry moved from {instance.expires_at:%H:%M:%SZ} to {expires:%H:%M:%SZ}" + (
        " (capped at the hard deadline)" if capped else ""
    )
    with Session(ledger.engine) as session:
        # Only if nothing moved it meanwhile (a reaper's claim, another extend).
        result = session.execute(
            sa.update(Instance)
            .where(col(Instance.id) == instance_id)
            .where(col(Instance.status).in_([s.value for s in EXTENDABLE]))
            .where(col(Instance.expires_at) == instance.expires_at)
            .values(expires_at=expires, updated_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            if ledger.get(instance_id) is None:
                raise NotFoundError(f"Instance {shown_id(instance_id)} not found")
            raise ConflictError(f"Instance {instance_id} changed meanwhile; try again")
        session.add(
            InstanceEvent(
                instance_id=instance_id,
                type="instance:extended",
                status=instance.status,
                at=now,
                detail=detail,
            )
        )
        session.commit()
    return Extension(ledger.require(instance_id), instance.expires_at, capped)
