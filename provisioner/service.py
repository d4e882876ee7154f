"""The one place that composes ledger + lifecycle + engine + catalog.

`Provisioner` is the Python API; the CLI and the REST API are thin adapters over it.
"""

from __future__ import annotations

import builtins
import logging
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from provisioner import lifecycle
from provisioner.billing import CostSplit, cost_split, storage_price_gb_month
from provisioner.catalog import Catalog, load_catalog
from provisioner.config import Settings
from provisioner.costs import round_money
from provisioner.engine import create_engine
from provisioner.engine.base import Engine, EngineEvent, EventCallback, HistoryEntry
from provisioner.errors import (
    CloudError,
    ConflictError,
    DestroyFailedError,
    NotFoundError,
    ProvisionerError,
    ProvisioningFailedError,
)
from provisioner.leases import RELEASED, Leases
from provisioner.ledger import Ledger
from provisioner.lifecycle import Status
from provisioner.models import CostBreakdownOut, EventOut, Instance, InstanceOut, StatisticsOut
from provisioner.retries import destroy_backoff, retry_transient
from provisioner.sshkeys import throwaway_public_key
from provisioner.validation import ProvisionRequest, ValidRequest, validate_request
from stacks.spec import VM_RESOURCE_TYPES, InstanceSpec

if TYPE_CHECKING:
    from provisioner.budgets import BudgetOut

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

    def _end_fields(self, instance: Instance) -> dict[str, Any]:
        """What an instance records when its resources are gone: the end time and final cost."""
        now = self.clock()
        split = self._billed(instance, now)
        return {
            "terminated_at": now,
            "compute_cost": split.compute,
            "storage_cost": split.storage,
            "total_cost": split.total,
        }

    def _billed(self, instance: Instance, end: datetime) -> CostSplit:
        """Compute and disk cost from createdAt to `end`, per the provider's billing rule."""
        price_gb_month = instance.storage_price_gb_month
        return cost_split(
            self.catalog,
            provider=instance.provider,
            price_per_hour=Decimal(instance.cost_per_hour),
            price_gb_month=None if price_gb_month is None else Decimal(price_gb_month),
            disk_gb=instance.disk_size_gb,
            start=instance.created_at,
            end=end,
        )

    def _cost_split(self, instance: Instance) -> CostSplit:
        if instance.total_cost is not None:  # frozen when it ended
            total = Decimal(instance.total_cost)
            if instance.compute_cost is None:  # ended before the cost split existed
                return CostSplit(compute=total, storage=Decimal(0))
            return CostSplit(
                compute=Decimal(instance.compute_cost),
                storage=Decimal(instance.storage_cost or 0),
            )
        return self._billed(instance, instance.terminated_at or self.clock())

    def _cost(self, instance: Instance) -> Decimal:
        return self._cost_split(instance).total

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
            cost_breakdown=CostBreakdownOut(**split.to_json()),
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
        price_per_hour = valid.type.price_in(valid.region)
        price_gb_month = storage_price_gb_month(self.catalog, valid.provider, valid.disk_size_gb)
        self._check_budget(valid, price_per_hour, price_gb_month)
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
            cost_per_hour=price_per_hour,
            storage_price_gb_month=price_gb_month,
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
            **self.leases.fields("up"),
        )
        detail = f"{valid.provider} {valid.type.name} in {valid.region} on the {engine_name} engine"
        instance = self.ledger.add(
            instance, event_type=lifecycle.EVENT_NAMES[Status.PROVISIONING], detail=detail
        )
        self.leases.hold(instance.id)  # renewed until run_provision ends, even while queued
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
        if instance.status != Status.PROVISIONING.value or not self.leases.adopt(instance, "up"):
            raise ConflictError(
                f"Instance {instance_id} is {instance.status}; its up is not this process's to run"
            )
        try:
            return self._run_provision(instance_id, on_progress=on_progress)
        finally:
            self.leases.drop(instance_id)

    def _run_provision(
        self, instance_id: str, *, on_progress: EventCallback | None = None
    ) -> InstanceOut:
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
            outputs = retry_transient(
                lambda: engine.up(spec, message=message, on_event=forward), self.settings
            )
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
            instance, Status.READY, detail=f"ready at {ip}", ready_at=self.clock(), **RELEASED
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
            retry_transient(
                lambda: engine.destroy(
                    instance.stack_name,
                    message=f"clean up failed up of {instance_id}",
                    on_event=on_progress,
                ),
                self.settings,
            )
        except CloudError as destroy_error:
            self._move(
                instance,
                Status.FAILED,
                detail=f"clean-up destroy failed, will be retried: {destroy_error.message}",
                error=f"{cause}; clean-up destroy failed (still billing until retried): "
                f"{destroy_error.message}",
                error_code=code,
                destroy_attempts=instance.destroy_attempts + 1,
                next_retry_at=self.clock() + destroy_backoff(1, self.settings),
                **RELEASED,
            )
            return
        self._move(
            instance,
            Status.FAILED,
            detail=f"{cause}; everything it created was destroyed",
            error=cause,
            error_code=code,
            **self._end_fields(instance),
            **RELEASED,
        )

    # -- termination ---------------------------------------------------------------------------

    def terminate(
        self, instance_id: str, *, reason: str = "user", on_progress: EventCallback | None = None
    ) -> InstanceOut:
        """Destroy the instance's stack; TERMINATED only once the destroy has succeeded."""
        self.begin_terminate(instance_id, reason=reason)
        return self.finish_terminate(instance_id, reason=reason, on_progress=on_progress)

    def begin_terminate(self, instance_id: str, *, reason: str = "user") -> Instance:
        """Claim the destroy (STOPPING, with this process's lease); nothing is destroyed yet.

        An ended instance (TERMINATED, or FAILED with its clean-up done) is returned unchanged; a
        FAILED one whose clean-up is pending is claimed for a retry. PROVISIONING is refused.
        """
        instance = self.ledger.require(instance_id)
        if _ended(instance):
            return instance
        if instance.status == Status.PROVISIONING.value:
            raise ConflictError(
                f"Instance {instance_id} is still PROVISIONING; terminate it once it is READY "
                "(a failed up cleans up after itself)"
            )
        return self.claim_destroy(instance, reason=reason)

    def finish_terminate(
        self, instance_id: str, *, reason: str = "user", on_progress: EventCallback | None = None
    ) -> InstanceOut:
        """Run the destroy `begin_terminate` claimed and record TERMINATED (or the failure)."""
        instance = self.ledger.require(instance_id)
        if _ended(instance):
            return self.to_out(instance)
        return self.to_out(self.finish_destroy(instance, reason=reason, on_progress=on_progress))

    def claim_destroy(
        self, instance: Instance, *, reason: str, where: Sequence[Any] = ()
    ) -> Instance:
        """Take the instance's lease for a destroy: atomically with its move to STOPPING, or for a
        FAILED instance whose clean-up is pending, alone. `where` adds guards (the reaper's
        "still expired"). ConflictError when another process holds it or it changed."""
        if instance.status == Status.FAILED.value:
            claimed = self.leases.claim(
                instance,
                operation="destroy",
                event_type="instance:cleanup",
                detail=f"retrying the clean-up destroy ({reason})",
            )
            if claimed is None:
                raise ConflictError(f"Instance {instance.id} is busy: another process holds it")
            return claimed
        moved = self._move(
            instance,
            Status.STOPPING,
            detail=f"terminating ({reason})",
            where=[*self.leases.free(), *where],
            **self.leases.fields("destroy"),
        )
        self.leases.hold(moved.id)
        return moved

    def finish_destroy(
        self, instance: Instance, *, reason: str, on_progress: EventCallback | None = None
    ) -> Instance:
        """Run the destroy whose lease `claim_destroy` took, and record the outcome: TERMINATED
        (or a FAILED instance's clean-up done), or the error and when it is retried."""
        engine = self.engine_for(instance.engine)
        try:
            retry_transient(
                lambda: engine.destroy(
                    instance.stack_name,
                    message=f"provisioner down {instance.id} ({reason})",
                    on_event=on_progress,
                ),
                self.settings,
            )
        except CloudError as exc:
            raise self._destroy_failed(instance, exc) from exc
        finally:
            self.leases.drop(instance.id)
        current = self.ledger.require(instance.id)
        if current.status == Status.FAILED.value:
            return self._move(
                current,
                Status.FAILED,
                detail="clean-up destroy succeeded",
                next_retry_at=None,
                **self._end_fields(current),
                **RELEASED,
            )
        return self._move(
            current,
            Status.TERMINATED,
            detail=f"stack destroyed ({reason})",
            **self._end_fields(current),
            error=None,
            error_code=None,
            next_retry_at=None,
            **RELEASED,
        )

    def _destroy_failed(self, instance: Instance, exc: CloudError) -> DestroyFailedError:
        """Record a failed destroy, release the lease and schedule the retry (with backoff)."""
        attempts = instance.destroy_attempts + 1
        retry_at = self.clock() + destroy_backoff(attempts, self.settings)
        if instance.status == Status.FAILED.value:
            note = f"clean-up destroy failed again, still billing: {exc.message}"
            fields: dict[str, Any] = {}
        else:
            note = (
                f"destroy failed, resources may still bill; retry `provisioner down` "
                f"(the reaper retries it too): {exc.message}"
            )
            fields = {"error": note, "error_code": exc.provider_code or "DESTROY_FAILED"}
        self.ledger.update(
            instance.id,
            at=self.clock(),
            destroy_attempts=attempts,
            next_retry_at=retry_at,
            **fields,
            **RELEASED,
        )
        self.ledger.note(
            instance.id,
            event_type="instance:error",
            status=Status(instance.status),
            at=self.clock(),
            detail=f"{note} (attempt {attempts}; next try after {_iso(retry_at)})",
        )
        self._emit("instance:error", {"instanceId": instance.id, "error": note})
        return DestroyFailedError(note, kind=exc.kind, provider_code=exc.provider_code)

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

    def extend(self, instance_id: str, minutes: int) -> InstanceOut:
        """Push the instance's expiresAt by `minutes` (from now if it already passed), never past
        the hard deadline set at creation."""
        from provisioner.lifetimes import extend

        extension = extend(
            self.ledger,
            instance_id,
            minutes,
            now=self.clock(),
            max_minutes=self.settings.max_ttl_minutes,
        )
        return self.to_out(extension.instance)

    def statistics(
        self,
        user_id: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> StatisticsOut:
        """The seed's statistics over instances created in [since, until) (default: all)."""
        stats = self.ledger.statistics(now=self.clock(), user_id=user_id, since=since, until=until)
        return StatisticsOut(
            total_provisioned=stats["total_provisioned"],
            currently_running=stats["currently_running"],
            total_cost=float(round_money(stats["total_cost"])),
            average_duration=stats["average_duration_hours"],
            average_cost=float(stats["average_cost"]),
            provider_breakdown=stats["provider_breakdown"],
            instance_type_breakdown=stats["instance_type_breakdown"],
            cost_breakdown=CostBreakdownOut(
                compute=float(stats["compute_cost"]), storage=float(stats["storage_cost"])
            ),
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

    # -- cost: budgets and reports (#5) ---------------------------------------------------------

    def _check_budget(
        self, valid: ValidRequest, price_per_hour: Decimal, price_gb_month: Decimal
    ) -> None:
        from provisioner.budgets import RequestCost, check_request

        request = RequestCost(
            user_id=valid.user_id,
            instance_type=valid.type.name,
            price_per_hour=price_per_hour,
            price_gb_month=price_gb_month,
            disk_gb=valid.disk_size_gb,
            minutes=valid.auto_terminate_minutes,
        )
        check_request(self.ledger, request, now=self.clock())

    def set_budget(
        self,
        user_id: str,
        *,
        daily_usd: Decimal | float | str | None = None,
        monthly_usd: Decimal | float | str | None = None,
        max_instances: int | None = None,
    ) -> BudgetOut:
        """Create or change a user's limits; limits not given keep their current value."""
        from provisioner.budgets import save_budget, standing
        from provisioner.validation import validate_id

        user_id = validate_id("userId", "User id", user_id)
        budget = save_budget(
            self.ledger,
            user_id,
            at=self.clock(),
            daily_usd=daily_usd,
            monthly_usd=monthly_usd,
            max_instances=max_instances,
        )
        return standing(self.ledger, budget, now=self.clock())

    def get_budget(self, user_id: str) -> BudgetOut:
        """The user's limits and their spend today / this month; NotFoundError if none."""
        from provisioner.budgets import load_budget, standing

        budget = load_budget(self.ledger, user_id)
        if budget is None:
            raise NotFoundError(f"User {user_id} has no budget")
        return standing(self.ledger, budget, now=self.clock())

    def clear_budget(self, user_id: str) -> bool:
        """Remove the user's limits; False if there were none."""
        from provisioner.budgets import delete_budget

        return delete_budget(self.ledger, user_id)

    def list_budgets(self) -> builtins.list[BudgetOut]:
        from provisioner.budgets import all_budgets, standing

        now = self.clock()
        return [standing(self.ledger, b, now=now) for b in all_budgets(self.ledger)]

    def cost_report(
        self, *, days: int = 30, by: str = "user", user_id: str | None = None
    ) -> dict[str, Any]:
        """Spend over the last `days` UTC days grouped `by` user|provider|type|day (JSON-able)."""
        from provisioner.cost_report import build_report

        return build_report(
            self.ledger, now=self.clock(), days=days, by=by, user_id=user_id, catalog=self.catalog
        )

    # -- beyond the seed: paging (#3) ------------------------------------------------------------

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
