"""The service's core: settings, ledger, engines, events, state moves and what things cost.

`Provisioner` (service.py) builds on it with provisioning (provisioning.py) and termination
(termination.py).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from provisioner.capacity.candidates import Attempt, Candidate
from provisioner.config import Settings
from provisioner.engine import create_engine
from provisioner.engine.base import Engine, EventCallback
from provisioner.ledger.attempts import attempts_of
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import (
    AttemptOut,
    Instance,
    InstanceCostBreakdownOut,
    InstanceOut,
)
from provisioner.ops.leases import Leases
from provisioner.ops.retries import retry_transient
from provisioner.rules import lifecycle
from provisioner.rules.billing import CostSplit, billed_until, instance_cost
from provisioner.rules.catalog import Catalog, load_catalog
from provisioner.rules.cloud_errors import FailureClass
from provisioner.rules.lifecycle import Status
from stacks.spec import ssh_user_for

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Handler = Callable[[dict[str, Any]], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ended(instance: Instance) -> bool:
    """Its resources are gone: TERMINATED, or FAILED with the clean-up done."""
    return instance.status == Status.TERMINATED.value or (
        instance.status == Status.FAILED.value and instance.terminated_at is not None
    )


def new_instance_id() -> str:
    return "inst-" + secrets.token_hex(6)


class ServiceCore:
    """What every part of the service shares; see `Provisioner` for the public API."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        clock: Clock = utc_now,
        ledger: Ledger | None = None,
        catalog: Catalog | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.catalog = catalog or load_catalog(home=settings.home)
        if ledger is None:
            settings.ensure_home()
            ledger = Ledger(settings.effective_database_url)
        self.ledger = ledger
        self._engines: dict[str, Engine] = {}
        if engine is not None:
            self._engines[engine.name] = engine
        self.default_engine = engine.name if engine is not None else settings.engine
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._engines_lock = threading.Lock()
        # Leases on this process's long operations, so a sweep can tell a dead one (issue #4).
        self.leases = Leases(ledger, seconds=settings.lease_seconds, clock=clock)

    # -- plumbing -----------------------------------------------------------------------------

    def engine_for(self, name: str) -> Engine:
        with self._engines_lock:
            if name not in self._engines:
                self._engines[name] = create_engine(name, self.settings)
            return self._engines[name]

    def on(self, event_type: str, handler: Handler) -> None:
        """Subscribe to the seed's events (`instance:ready`, ...) or "*" for all of them."""
        if event_type != "*" and event_type not in lifecycle.SEED_EVENTS:
            raise ValueError(
                f"unknown event {event_type!r}; one of {', '.join(lifecycle.SEED_EVENTS)}"
            )
        self._handlers[event_type].append(handler)

    def _emit(self, event_type: str, payload: dict[str, Any]) -> None:
        for handler in [*self._handlers.get(event_type, []), *self._handlers.get("*", [])]:
            try:
                handler({"type": event_type, **payload})
            except Exception:  # a subscriber must never break provisioning
                log.exception("event handler for %s failed", event_type)

    def _move(
        self,
        instance: Instance,
        target: Status,
        *,
        detail: str | None = None,
        where: Sequence[Any] = (),
        **fields: Any,
    ) -> Instance:
        current = Status(instance.status)
        lifecycle.check_transition(instance.id, current, target)
        moved = self.ledger.transition(
            instance.id,
            expected=current,
            target=target,
            at=self.clock(),
            event_type=lifecycle.EVENT_NAMES[target],
            detail=detail,
            where=where,
            **fields,
        )
        payload: dict[str, Any] = {"instanceId": moved.id, "status": moved.status}
        if detail:
            payload["detail"] = detail
        if target in lifecycle.FINAL:
            payload["totalCost"] = float(self._cost(moved))
        if target is Status.FAILED:
            payload["error"] = moved.error
        self._emit(lifecycle.EVENT_NAMES[target], payload)
        return moved

    def _destroy_stack(
        self, instance: Instance, message: str, on_progress: EventCallback | None
    ) -> None:
        """Destroy the instance's stack with its own engine, retrying transient failures."""
        engine = self.engine_for(instance.engine)
        retry_transient(
            lambda: engine.destroy(instance.stack_name, message=message, on_event=on_progress),
            self.settings,
        )

    def _end_fields(self, instance: Instance) -> dict[str, Any]:
        """What an instance records when its resources are gone: the end time and final cost."""
        now = self.clock()
        split = self._billed(instance, now)
        return {
            "terminated_at": now,
            "compute_cost": split.compute,
            "storage_cost": split.storage,
            "public_ip_cost": split.public_ipv4,
            "total_cost": split.total,
        }

    def _billed(self, instance: Instance, end: datetime) -> CostSplit:
        """Compute, disk and public IPv4 cost from its billing start to `end` (rules/billing.py)."""
        return billed_until(self.catalog, instance, end)

    def _cost_split(self, instance: Instance) -> CostSplit:
        return instance_cost(self.catalog, instance, self.clock())

    def _cost(self, instance: Instance) -> Decimal:
        return self._cost_split(instance).total

    def _ssh_command(self, instance: Instance) -> str | None:
        return None  # remote_access.py: the command that reaches a live VM from here

    def to_out(self, instance: Instance) -> InstanceOut:
        split = self._cost_split(instance)
        return InstanceOut(
            id=instance.id,
            user_id=instance.user_id,
            task_id=instance.task_id,
            provider=instance.provider,
            instance_type=instance.instance_type,
            region=instance.region,
            status=instance.status,
            public_ip=instance.public_ip,
            private_ip=instance.private_ip,
            cloud_instance_id=instance.cloud_instance_id,
            disk_size_gb=instance.disk_size_gb,
            auto_terminate_minutes=instance.auto_terminate_minutes,
            expires_at=instance.expires_at,
            hard_deadline=instance.hard_deadline,
            cost_per_hour=float(instance.cost_per_hour),
            total_cost=float(split.total),
            cost_breakdown=InstanceCostBreakdownOut(**split.to_json()),
            purpose=instance.purpose,
            tags=instance.tags,
            metadata=instance.meta,
            engine=instance.engine,
            created_at=instance.created_at,
            ready_at=instance.ready_at,
            terminated_at=instance.terminated_at,
            updated_at=instance.updated_at,
            error=instance.error,
            error_code=instance.error_code,
            ssh_user=ssh_user_for(instance.provider),
            ssh_command=self._ssh_command(instance),
            allowed_ssh_cidrs=list(instance.allowed_ssh_cidrs or []),
            ssh_key_fingerprint=instance.ssh_key_fingerprint,
            zone=instance.meta.get("zone"),
            spot=bool(instance.meta.get("spot", False)),
            attempts=[AttemptOut.model_validate(a.to_json()) for a in self._attempts(instance)],
            public_ipv4_per_hour=float(instance.public_ip_price_per_hour or 0),
        )

    def _attempts(self, instance: Instance) -> list[Attempt]:
        """The instance's attempts (#12); rows made before failover existed have none."""
        if "capacity" not in (instance.meta or {}):
            return []
        return [
            Attempt(
                number=a.number,
                candidate=Candidate(
                    a.provider, a.region, a.instance_type, a.zone, a.spot, Decimal(a.price_per_hour)
                ),
                stack_name=a.stack_name,
                outcome=a.outcome,
                started_at=a.started_at,
                ended_at=a.ended_at,
                failure_class=None if a.failure_class is None else FailureClass(a.failure_class),
                provider_code=a.provider_code,
                message=a.message,
            )
            for a in attempts_of(self.ledger, instance.id)
        ]


def _decimal_or_none(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value)
