"""The one place that composes ledger + lifecycle + engine + catalog.

`Provisioner` is the Python API; the CLI and the REST API are thin adapters over it.
"""

from __future__ import annotations

import builtins
import logging
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from provisioner import lifecycle
from provisioner.catalog import Catalog, load_catalog
from provisioner.config import Settings
from provisioner.costs import accrued_cost, round_money
from provisioner.engine import create_engine
from provisioner.engine.base import Engine, EngineEvent, EventCallback, HistoryEntry
from provisioner.errors import (
    CloudError,
    ConflictError,
    DestroyFailedError,
    InvalidTransitionError,
    ProvisionerError,
    ProvisioningFailedError,
    ValidationError,
)
from provisioner.ledger import Ledger
from provisioner.lifecycle import Status
from provisioner.models import EventOut, Instance, InstanceOut, StatisticsOut
from provisioner.sshkeys import throwaway_public_key
from provisioner.validation import ProvisionRequest, ValidRequest, validate_request
from stacks.spec import VM_RESOURCE_TYPES, InstanceSpec

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Handler = Callable[[dict[str, Any]], None]
# States whose expiry `extend` may move: the instance is alive and not on its way out.
EXTENDABLE = frozenset({Status.PROVISIONING, Status.CONFIGURING, Status.READY, Status.RUNNING})


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_instance_id() -> str:
    return "inst-" + secrets.token_hex(6)


class Provisioner:
    """Provision, watch and terminate GPU instances; every state change lands in the ledger.

    `engine` overrides the engine used for new instances (default: `settings.engine`). Existing
    instances always use the engine that made them.
    """

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
        self.catalog = catalog or load_catalog()
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

    def _end_fields(self, instance: Instance) -> dict[str, Any]:
        """What an instance records when its resources are gone: the end time and final cost."""
        now = self.clock()
        return {
            "terminated_at": now,
            "total_cost": accrued_cost(Decimal(instance.cost_per_hour), instance.created_at, now),
        }

    def _cost(self, instance: Instance) -> Decimal:
        if instance.total_cost is not None:
            return Decimal(instance.total_cost)
        end = instance.terminated_at or self.clock()
        return accrued_cost(Decimal(instance.cost_per_hour), instance.created_at, end)

    def to_out(self, instance: Instance) -> InstanceOut:
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
            total_cost=float(self._cost(instance)),
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
        )

    # -- provisioning --------------------------------------------------------------------------

    def validate(self, request: ProvisionRequest) -> ValidRequest:
        return validate_request(request, self.settings, self.catalog)

    def begin_provision(self, request: ProvisionRequest, *, engine: str | None = None) -> Instance:
        """Validate and record the request as PROVISIONING. Nothing is created in a cloud yet."""
        valid = self.validate(request)
        engine_name = engine or self.default_engine
        self.engine_for(engine_name).ensure_ready()
        now = self.clock()
        instance_id = new_instance_id()
        instance = Instance(
            id=instance_id,
            user_id=valid.user_id,
            task_id=valid.task_id,
            provider=valid.provider,
            instance_type=valid.type.name,
            region=valid.region,
            status=Status.PROVISIONING.value,
            disk_size_gb=valid.disk_size_gb,
            auto_terminate_minutes=valid.auto_terminate_minutes,
            cost_per_hour=valid.type.price_per_hour,
            purpose=valid.purpose,
            tags=valid.tags,
            meta={},
            allowed_ssh_cidrs=list(valid.allowed_ssh_cidrs),
            ssh_public_key=valid.ssh_public_key,
            ssh_key_fingerprint=valid.ssh_key_fingerprint,
            engine=engine_name,
            stack_name=instance_id,
            created_at=now,
            expires_at=now + timedelta(minutes=valid.auto_terminate_minutes),
            hard_deadline=now + timedelta(minutes=self.settings.hard_lifetime_minutes),
            updated_at=now,
        )
        detail = f"{valid.provider} {valid.type.name} in {valid.region} on the {engine_name} engine"
        instance = self.ledger.add(
            instance, event_type=lifecycle.EVENT_NAMES[Status.PROVISIONING], detail=detail
        )
        self._emit("instance:provisioning", {"instanceId": instance.id, "status": instance.status})
        if valid.type.retired:
            self._warn(instance, f"{valid.type.name} is retired: {valid.type.note or ''}".strip())
        return instance

    def _warn(self, instance: Instance, message: str) -> None:
        log.info("%s: %s", instance.id, message)
        self.ledger.note(
            instance.id,
            event_type="instance:warning",
            status=Status(instance.status),
            at=self.clock(),
            detail=message,
        )

    def _spec(self, instance: Instance) -> InstanceSpec:
        ssh_public_key = instance.ssh_public_key
        if ssh_public_key is None and instance.provider == "AZURE":
            # Azure needs a key when passwords are off; nobody holds this one's private half.
            ssh_public_key = throwaway_public_key()
        return InstanceSpec(
            instance_id=instance.id,
            provider=instance.provider,
            instance_type=instance.instance_type,
            region=instance.region,
            disk_gb=instance.disk_size_gb,
            expires_at=_iso(instance.expires_at),
            hard_deadline=_iso(instance.hard_deadline),
            user_id=instance.user_id,
            task_id=instance.task_id,
            ssh_public_key=ssh_public_key,
            allowed_ssh_cidrs=tuple(instance.allowed_ssh_cidrs),
            tags=dict(instance.tags),
            image=self.settings.aws_ami
            if instance.provider == "AWS"
            else self.settings.azure_image,
            subnet_id=self.settings.aws_subnet_id if instance.provider == "AWS" else None,
        )

    def run_provision(
        self, instance_id: str, *, on_progress: EventCallback | None = None
    ) -> InstanceOut:
        """Run the stack's `up` for a PROVISIONING instance and carry it to READY (or FAILED)."""
        instance = self.ledger.require(instance_id)
        engine = self.engine_for(instance.engine)
        spec = self._spec(instance)
        vm_seen = threading.Event()

        def forward(event: EngineEvent) -> None:
            if (
                event.kind == "resource"
                and event.status == "done"
                and event.op == "create"
                and event.resource_type in VM_RESOURCE_TYPES
                and not vm_seen.is_set()
            ):
                vm_seen.set()
                try:
                    self._move(
                        self.ledger.require(instance_id),
                        Status.CONFIGURING,
                        detail="the VM exists and is booting",
                    )
                except ProvisionerError:
                    log.exception("could not record CONFIGURING for %s", instance_id)
            if on_progress is not None:
                on_progress(event)

        message = f"provisioner up {instance.id} (user {instance.user_id}, task {instance.task_id})"
        try:
            outputs = engine.up(spec, message=message, on_event=forward)
        except CloudError as exc:
            self._clean_up_failed_up(instance_id, exc, on_progress)
            raise
        except ProvisionerError as exc:  # e.g. a provider plugin could not be installed
            failure = ProvisioningFailedError(exc.message, kind="error")
            self._clean_up_failed_up(instance_id, failure, on_progress)
            raise failure from exc
        except BaseException as exc:  # interrupted (Ctrl-C) or a bug: never leave it billing
            self._clean_up_failed_up(
                instance_id,
                ProvisioningFailedError(f"interrupted: {exc!r}", kind="error"),
                on_progress,
            )
            raise
        instance = self.ledger.require(instance_id)
        if instance.status == Status.PROVISIONING.value:
            instance = self._move(
                instance, Status.CONFIGURING, detail="the VM exists and is booting"
            )
        instance = self.ledger.update(
            instance_id,
            at=self.clock(),
            public_ip=outputs.public_ip,
            private_ip=outputs.private_ip,
            cloud_instance_id=outputs.cloud_instance_id,
            meta=outputs.metadata,
        )
        ip = outputs.public_ip or outputs.private_ip or "no address"
        instance = self._move(
            instance, Status.READY, detail=f"ready at {ip}", ready_at=self.clock()
        )
        return self.to_out(instance)

    def provision(
        self,
        request: ProvisionRequest,
        *,
        engine: str | None = None,
        on_progress: EventCallback | None = None,
    ) -> InstanceOut:
        """The seed's provisionInstance: returns once the instance is READY; raises if it FAILED."""
        instance = self.begin_provision(request, engine=engine)
        return self.run_provision(instance.id, on_progress=on_progress)

    def _clean_up_failed_up(
        self, instance_id: str, error: CloudError, on_progress: EventCallback | None
    ) -> None:
        """Destroy what a failed up created, then record FAILED with the cause."""
        instance = self.ledger.require(instance_id)
        engine = self.engine_for(instance.engine)
        code = error.provider_code or error.kind.upper()
        cause = f"{error.kind}: {error.message}"
        self.ledger.note(
            instance_id,
            event_type="instance:error",
            status=Status(instance.status),
            at=self.clock(),
            detail=f"up failed ({cause}); destroying what it created",
        )
        try:
            engine.destroy(
                instance.stack_name,
                message=f"clean up failed up of {instance_id}",
                on_event=on_progress,
            )
        except CloudError as destroy_error:
            self._move(
                instance,
                Status.FAILED,
                detail=f"clean-up destroy failed, will be retried: {destroy_error.message}",
                error=f"{cause}; clean-up destroy failed (still billing until retried): "
                f"{destroy_error.message}",
                error_code=code,
            )
            return
        self._move(
            instance,
            Status.FAILED,
            detail=f"{cause}; everything it created was destroyed",
            error=cause,
            error_code=code,
            **self._end_fields(instance),
        )

    # -- termination ---------------------------------------------------------------------------

    def terminate(
        self, instance_id: str, *, reason: str = "user", on_progress: EventCallback | None = None
    ) -> InstanceOut:
        """Destroy the instance's stack; TERMINATED only once the destroy has succeeded."""
        self.begin_terminate(instance_id, reason=reason)
        return self.finish_terminate(instance_id, reason=reason, on_progress=on_progress)

    def begin_terminate(self, instance_id: str, *, reason: str = "user") -> Instance:
        """Record STOPPING; nothing is destroyed yet (`finish_terminate` does that).

        A TERMINATED instance (or a FAILED one whose clean-up is done) is returned unchanged, as
        is a FAILED one whose clean-up `finish_terminate` will retry. PROVISIONING is refused.
        """
        instance = self.ledger.require(instance_id)
        status = Status(instance.status)
        if status is Status.TERMINATED or status is Status.FAILED:
            return instance
        if status is Status.PROVISIONING:
            raise ConflictError(
                f"Instance {instance_id} is still PROVISIONING; terminate it once it is READY "
                "(a failed up cleans up after itself)"
            )
        return self._move(instance, Status.STOPPING, detail=f"terminating ({reason})")

    def finish_terminate(
        self, instance_id: str, *, reason: str = "user", on_progress: EventCallback | None = None
    ) -> InstanceOut:
        """Destroy the stack of a STOPPING instance (or retry a FAILED one's clean-up)."""
        instance = self.ledger.require(instance_id)
        status = Status(instance.status)
        if status is Status.TERMINATED or (status is Status.FAILED and instance.terminated_at):
            return self.to_out(instance)
        engine = self.engine_for(instance.engine)
        if status is Status.FAILED:
            return self._retry_failed_cleanup(instance, engine, on_progress)
        lifecycle.check_transition(instance_id, status, Status.TERMINATED)
        try:
            engine.destroy(
                instance.stack_name,
                message=f"provisioner down {instance_id} ({reason})",
                on_event=on_progress,
            )
        except CloudError as exc:
            note = (
                f"destroy failed, resources may still bill; retry `provisioner down`: {exc.message}"
            )
            self.ledger.update(
                instance_id,
                at=self.clock(),
                error=note,
                error_code=exc.provider_code or "DESTROY_FAILED",
            )
            self.ledger.note(
                instance_id,
                event_type="instance:error",
                status=Status.STOPPING,
                at=self.clock(),
                detail=note,
            )
            self._emit("instance:error", {"instanceId": instance_id, "error": note})
            raise DestroyFailedError(note, kind=exc.kind, provider_code=exc.provider_code) from exc
        instance = self._move(
            self.ledger.require(instance_id),
            Status.TERMINATED,
            detail=f"stack destroyed ({reason})",
            **self._end_fields(instance),
            error=None,
            error_code=None,
        )
        return self.to_out(instance)

    def _retry_failed_cleanup(
        self, instance: Instance, engine: Engine, on_progress: EventCallback | None
    ) -> InstanceOut:
        try:
            engine.destroy(
                instance.stack_name,
                message=f"retry clean-up of {instance.id}",
                on_event=on_progress,
            )
        except CloudError as exc:
            raise DestroyFailedError(
                f"clean-up destroy failed again, still billing: {exc.message}", kind=exc.kind
            ) from exc
        moved = self._move(
            instance,
            Status.FAILED,
            detail="clean-up destroy succeeded",
            **self._end_fields(instance),
        )
        return self.to_out(moved)

    def terminate_task(self, task_id: str, *, reason: str = "user") -> list[InstanceOut]:
        live = [i for i in self.ledger.list(task_id=task_id) if i.terminated_at is None]
        return [self.terminate(i.id, reason=reason) for i in live]

    # -- the rest of the seed's API ------------------------------------------------------------

    def get(self, instance_id: str) -> InstanceOut:
        return self.to_out(self.ledger.require(instance_id))

    def list(
        self,
        user_id: str | None = None,
        status: Status | str | None = None,
        *,
        task_id: str | None = None,
    ) -> builtins.list[InstanceOut]:
        wanted = lifecycle.parse_status(status) if isinstance(status, str) else status
        return [
            self.to_out(i)
            for i in self.ledger.list(user_id=user_id, status=wanted, task_id=task_id)
        ]

    def set_status(self, instance_id: str, status: Status | str) -> InstanceOut:
        """The task started (RUNNING) or finished (READY)."""
        target = lifecycle.parse_status(status) if isinstance(status, str) else status
        if target not in (Status.RUNNING, Status.READY):
            raise ConflictError(f"Status can only be set to RUNNING or READY (got {target.value})")
        instance = self.ledger.require(instance_id)
        if Status(instance.status) is target:
            return self.to_out(instance)
        return self.to_out(self._move(instance, target))

    def statistics(self, user_id: str | None = None) -> StatisticsOut:
        stats = self.ledger.statistics(now=self.clock(), user_id=user_id)
        return StatisticsOut(
            total_provisioned=stats["total_provisioned"],
            currently_running=stats["currently_running"],
            total_cost=float(round_money(stats["total_cost"])),
            average_duration=stats["average_duration_hours"],
            average_cost=float(stats["average_cost"]),
            provider_breakdown=stats["provider_breakdown"],
            instance_type_breakdown=stats["instance_type_breakdown"],
        )

    def events(self, instance_id: str) -> builtins.list[EventOut]:
        self.ledger.require(instance_id)
        return [
            EventOut(type=e.type, status=e.status, at=e.at, detail=e.detail)
            for e in self.ledger.events(instance_id)
        ]

    def history(self, instance_id: str) -> builtins.list[HistoryEntry] | None:
        instance = self.ledger.require(instance_id)
        return self.engine_for(instance.engine).history(instance.stack_name)

    # -- beyond the seed: paging and extending (#3) ----------------------------------------------

    def page(
        self,
        user_id: str | None = None,
        status: Status | None = None,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> tuple[builtins.list[InstanceOut], bool]:
        """Up to `limit` instances newest first after the (createdAt, id) `after`; and whether
        there are more."""
        rows = self.ledger.page(user_id=user_id, status=status, limit=limit + 1, after=after)
        return [self.to_out(i) for i in rows[:limit]], len(rows) > limit

    def extend(self, instance_id: str, minutes: int) -> InstanceOut:
        """Push expiresAt back by `minutes`; never past the hard deadline."""
        most = self.settings.max_ttl_minutes
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= most:
            raise ValidationError(
                "minutes", f"Extension must be between 1 and {most} minutes (got {minutes})"
            )
        instance = self.ledger.require(instance_id)
        status = Status(instance.status)
        if status not in EXTENDABLE:
            raise InvalidTransitionError(
                f"Instance {instance_id} is {status.value}; only a live instance can be extended"
            )
        expires_at = instance.expires_at + timedelta(minutes=minutes)
        if expires_at > instance.hard_deadline:
            room = max(0, int((instance.hard_deadline - instance.expires_at).total_seconds() // 60))
            raise ValidationError(
                "minutes",
                f"Extension by {minutes} minutes would pass the hard deadline "
                f"{_iso(instance.hard_deadline)}; at most {room} more minutes are possible",
            )
        now = self.clock()
        instance = self.ledger.update(instance_id, at=now, expires_at=expires_at)
        self.ledger.note(
            instance_id,
            event_type="instance:extended",
            status=status,
            at=now,
            detail=f"expires at {_iso(expires_at)} (+{minutes} min)",
        )
        return self.to_out(instance)
