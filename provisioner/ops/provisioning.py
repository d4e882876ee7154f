"""Provisioning: validate and record a request, run the stack's `up`, carry it to READY, and
clean up after a failed `up`.

Near 450 lines: one mixin whose steps share the request's state through the service; failover
(failover.py), preemption and remote access are already their own modules (#21)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

from provisioner.engine.base import Engine, EngineEvent, EventCallback, Target
from provisioner.engine.preflight import as_line, refusal
from provisioner.ledger.admission import admit
from provisioner.ledger.idempotency import WINDOW as KEY_WINDOW
from provisioner.ledger.models import Instance, InstanceAttempt, InstanceOut
from provisioner.ops.failover import Failover, Region
from provisioner.ops.leases import QUEUED, RELEASED
from provisioner.ops.remote_access import RemoteAccess
from provisioner.ops.retries import destroy_backoff, retry_transient
from provisioner.ops.service_core import _iso, log, new_instance_id
from provisioner.remote.keys import generate_key_pair, throwaway_public_key
from provisioner.rules import lifecycle
from provisioner.rules.billing import storage_price_gb_month
from provisioner.rules.cloud_errors import class_for_size
from provisioner.rules.errors import (
    CloudError,
    ConflictError,
    ProvisionerError,
    ProvisioningFailedError,
)
from provisioner.rules.lifecycle import Status
from provisioner.rules.public_ip import public_ipv4_per_hour
from provisioner.rules.validation import (
    ProvisionRequest,
    ValidRequest,
    refuse_retired,
)
from stacks.spec import VM_RESOURCE_TYPES, InstanceSpec

# The states an up runs in: before the VM exists, and while it boots.
UP_STATES = (Status.PROVISIONING.value, Status.CONFIGURING.value)


class _EndedError(Exception):
    """An attempt that failed after its clean-up already ran (no failover after it)."""

    def __init__(self, error: ProvisionerError):
        super().__init__(error.message)
        self.error = error


class Provisioning(Failover, RemoteAccess):
    # -- provisioning --------------------------------------------------------------------------

    def validate(self, request: ProvisionRequest) -> ValidRequest:
        return self.plan(request)[0]

    def begin_provision(
        self,
        request: ProvisionRequest,
        *,
        engine: str | None = None,
        hold: bool = True,
        idempotency_key: str | None = None,
    ) -> Instance:
        """Validate and record the request as PROVISIONING. Nothing is created in a cloud yet.

        `hold`: this process takes the up's lease (and runs it next). Without it the request is
        queued for any replica: `operation` "queued", owned by this process until a pickup loop
        claims it (a sweep cancels it once this process is gone). The budget check, the
        Idempotency-Key claim and the insert are one atomic step (`ledger/admission.py`); a key
        already used raises KeyTakenError with its instance."""
        valid, candidates, max_attempts = self.plan(request)
        price_per_hour = candidates[0].price_per_hour
        # every stack gives its VM one public IPv4 address (rules/public_ip.py)
        ipv4_per_hour = public_ipv4_per_hour(candidates[0].provider, spot=candidates[0].spot)
        price_gb_month = storage_price_gb_month(
            self.catalog, valid.provider, valid.disk_size_gb, instance_type=valid.type.name
        )
        engine_name = engine or self.default_engine
        if not request.allow_retired and not self.engine_for(engine_name).simulated:
            refuse_retired(valid.type, self.catalog)
        self.engine_for(engine_name).ensure_ready()
        now = self.clock()
        instance_id = new_instance_id()
        public_key, fingerprint = valid.ssh_public_key, valid.ssh_key_fingerprint
        if public_key is None:  # a pair of its own: the private half stays in <home>/keys
            from provisioner.rules.validation import validate_ssh_key

            self.settings.ensure_home()
            public_key, fingerprint = validate_ssh_key(
                generate_key_pair(self.settings.home, instance_id)
            )
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
            public_ip_price_per_hour=ipv4_per_hour,
            purpose=valid.purpose,
            tags=valid.tags,
            meta=self.capacity_meta(candidates, max_attempts, request),
            allowed_ssh_cidrs=list(valid.allowed_ssh_cidrs),
            ssh_public_key=public_key,
            ssh_key_fingerprint=fingerprint,
            setup_script=valid.setup_script,
            idle_minutes=valid.idle_minutes,
            engine=engine_name,
            stack_name=instance_id,
            created_at=now,
            expires_at=now + timedelta(minutes=valid.auto_terminate_minutes),
            hard_deadline=now + timedelta(minutes=self.settings.hard_lifetime_minutes),
            updated_at=now,
            **self.leases.fields("up" if hold else QUEUED),
        )
        detail = f"{valid.provider} {valid.type.name} in {valid.region} on the {engine_name} engine"
        if len(candidates) > 1:
            detail += f" ({len(candidates)} candidates, at most {max_attempts} attempts)"
        instance = admit(
            self.ledger,
            instance,
            event_type=lifecycle.EVENT_NAMES[Status.PROVISIONING],
            detail=detail,
            check=lambda: self._check_budget(valid, price_per_hour, price_gb_month, ipv4_per_hour),
            key=idempotency_key,
            key_oldest=now - KEY_WINDOW,
        )
        # Renewed until run_provision ends (or, queued, until a replica claims it).
        self.leases.hold(instance.id)
        self._emit("instance:provisioning", {"instanceId": instance.id, "status": instance.status})
        if valid.type.retired:
            self._warn(instance, f"{valid.type.name} is retired: {valid.type.note or ''}".strip())
        for warning in _reach_warnings(valid):
            self._warn(instance, warning)
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

    def _spec(self, instance: Instance, attempt: int = 1) -> InstanceSpec:
        # Every instance's key is recorded on its row (#11), so a resumed Azure up declares the
        # same osProfile key (Azure refuses to change it).
        ssh_public_key = instance.ssh_public_key
        if ssh_public_key is None and instance.provider == "AZURE":
            # A row made before keys were recorded; nobody holds this one's private half.
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
            subnet_id=self.settings.aws_subnet_for(instance.region)
            if instance.provider == "AWS"
            else None,
            zones=self._zones(instance),
            project=self.settings.gcp_project if instance.provider == "GCP" else None,
            setup_script=instance.setup_script,
            idle_minutes=instance.idle_minutes,
            zone=(instance.meta or {}).get("zone"),
            spot=bool((instance.meta or {}).get("spot")),
            spot_max_price=((instance.meta or {}).get("capacity") or {}).get("spotMaxPrice"),
            attempt=attempt,
            **self._image_fields(instance),
        )

    def _zones(self, instance: Instance) -> tuple[str, ...]:
        """GCP: the catalog's zones of the region that offer the type, in the catalog's order
        (the program cannot look up accelerator types itself)."""
        if instance.provider != "GCP":
            return ()
        itype = self.catalog.get(instance.provider, instance.instance_type)
        return itype.zones_in(instance.region) if itype is not None else ()

    def _image_fields(self, instance: Instance) -> dict[str, Any]:
        """The image: settings' override, else the catalog's image for the type's GPU family
        (#13): Azure's URN and driver extension, AWS's root size for the data-disk layout; GCP's
        program picks its Deep Learning VM family itself unless PROVISIONER_GCP_IMAGE is set."""
        if instance.provider == "GCP":
            return {"image": self.settings.gcp_image}
        image = self.catalog.image_for(instance.provider, instance.instance_type)
        if instance.provider == "AWS":
            custom = self.settings.aws_ami_for(instance.region)
            if custom or image is None:
                return {"image": custom}
            return {"root_disk_gb": image.root_disk_gb}
        if self.settings.azure_image or image is None:
            return {"image": self.settings.azure_image}
        return {"image": image.ref, "gpu_driver_extension": image.extension}

    def run_provision(
        self,
        instance_id: str,
        *,
        on_progress: EventCallback | None = None,
        instance: Instance | None = None,
    ) -> InstanceOut:
        """Run the stack's `up` for a PROVISIONING instance and carry it to READY (or FAILED).
        `instance`: the row as this process just wrote it (saves reading it again)."""
        if instance is None or instance.id != instance_id:
            instance = self.ledger.require(instance_id)
        if instance.status not in UP_STATES or not self.leases.adopt(instance, "up"):
            raise ConflictError(
                f"Instance {instance_id} is {instance.status}; its up is not this process's to run"
            )
        try:
            return self._run_provision(instance, on_progress=on_progress)
        finally:
            self.leases.drop(instance_id)

    def resume_provision(self, instance_id: str, *, interrupted: bool) -> InstanceOut:
        """Run the up of an instance this process claimed (`pickup`): one queued for
        any replica, or (`interrupted`) one whose replica died mid-up. The stack is unlocked and
        refreshed first; the up then converges on what the dead one left."""
        if interrupted:
            instance = self.ledger.require(instance_id)
            try:
                self.engine_for(instance.engine).recover(instance.stack_name)
            except ProvisionerError as exc:  # the up below says whether it mattered
                self._warn(instance, f"unlocking/refreshing the stack failed: {exc.message}")
        return self.run_provision(instance_id)

    def _run_provision(
        self, instance: Instance, *, on_progress: EventCallback | None = None
    ) -> InstanceOut:
        """Try the request's candidates in order until one lands (see failover.py). The first
        attempt starts from the row this process holds; a later one re-reads it (a refused
        attempt's clean-up changed it)."""
        instance_id = instance.id
        refused: set[Region] = set()  # regions a preflight refused as a whole
        while True:
            attempt, instance = self.next_attempt(instance, frozenset(refused))
            try:
                out = self._run_attempt(instance, attempt, on_progress)
            except _EndedError as ended:
                raise ended.error from None
            except CloudError as exc:
                instance = self.ledger.require(instance_id)
                if exc.region_wide:
                    refused.add((attempt.provider, attempt.region))
                if not self.may_fail_over(instance, attempt, exc, frozenset(refused)):
                    self.record_failed_attempt(instance, attempt, exc)
                    final = self.final_failure(instance, exc)
                    self._clean_up_failed_up(instance_id, final, on_progress)
                    raise final from exc
                try:  # destroyed completely before the next attempt starts
                    self._destroy_stack(
                        instance, f"clean up failed attempt {attempt.number}", on_progress
                    )
                except CloudError:
                    self.record_failed_attempt(instance, attempt, exc)
                    final = self.final_failure(instance, exc)
                    self._clean_up_failed_up(instance_id, final, on_progress)
                    raise final from exc
                self.record_failed_attempt(instance, attempt, exc)
                instance = self.ledger.require(instance_id)
                if on_progress is not None:  # one line; the full text is in the events
                    reason = (str(exc.message).splitlines() or [""])[0][:160]
                    on_progress(
                        EngineEvent(
                            kind="info", message=f"attempt {attempt.number} refused: {reason}"
                        )
                    )
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
            else:
                return out

    def _end_running_attempt(self, instance_id: str) -> None:
        from provisioner.ledger.attempts import attempts_of, end_attempt

        for row in attempts_of(self.ledger, instance_id):
            if row.outcome == "running" and row.id is not None:
                end_attempt(
                    self.ledger, row.id, at=self.clock(), outcome="failed", failure_class="error"
                )

    def _run_attempt(
        self, instance: Instance, attempt: InstanceAttempt, on_progress: EventCallback | None
    ) -> InstanceOut:
        """One attempt's up, carried to READY. A refusal is raised with nothing cleaned up: the
        caller decides between the next candidate and FAILED."""
        instance_id = instance.id
        engine = self.engine_for(instance.engine)
        number = attempt.number
        spec = self._spec(instance, number)
        vm_seen = threading.Event()
        if instance.status == Status.CONFIGURING.value:  # resuming an up that got this far
            vm_seen.set()
        current = [instance]  # the row as this process last wrote it (the callback moves it)

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
                    current[0] = self._move(
                        current[0],
                        Status.CONFIGURING,
                        detail="the VM exists and is booting",
                        billed_from=self.clock(),  # the cloud accepted it: billing starts
                    )
                except ProvisionerError:
                    log.exception("could not record CONFIGURING for %s", instance_id)
            if on_progress is not None:
                on_progress(event)

        if on_progress is not None:  # "attempt 2/6: aws us-east-1/us-east-1b g4dn.xlarge" (#27)
            plan = (instance.meta or {}).get("capacity") or {}
            where = "/".join(x for x in (attempt.region, attempt.zone) if x)
            on_progress(
                EngineEvent(
                    kind="info",
                    message=f"attempt {number}/{plan.get('maxAttempts') or '?'}: "
                    f"{attempt.provider.lower()} {where} {attempt.instance_type}",
                )
            )
        message = f"provisioner up {instance.id} (user {instance.user_id}, task {instance.task_id})"
        if instance.status == Status.PROVISIONING.value:  # quota, registrations (#13)
            self._preflight(engine, spec)
        try:
            outputs = retry_transient(
                lambda: engine.up(spec, message=message, on_event=forward), self.settings
            )
        except CloudError as exc:  # a retired size's refusal says so (#13); failover decides
            itype = self.catalog.get(instance.provider, instance.instance_type)
            exc.kind = class_for_size(
                exc.kind,
                instance.provider,
                exc.provider_code,
                size_retired=itype is not None and itype.retired,
            )
            raise
        self.landed(attempt)
        instance = current[0]
        if instance.status == Status.PROVISIONING.value:
            instance = self._move(
                instance,
                Status.CONFIGURING,
                detail="the VM exists and is booting",
                billed_from=self.clock(),
            )
        zone = outputs.metadata.get("zone") or outputs.metadata.get("availabilityZone")
        meta = {**(instance.meta or {}), **outputs.metadata}
        meta["zone"] = zone or (instance.meta or {}).get("zone")
        instance = self.ledger.update(
            instance_id,
            at=self.clock(),
            public_ip=outputs.public_ip,
            private_ip=outputs.private_ip,
            cloud_instance_id=outputs.cloud_instance_id,
            meta=meta,
            # no public address, no IPv4 charge (#24)
            **({} if outputs.public_ip else {"public_ip_price_per_hour": None}),
        )
        try:
            usable = self.wait_usable(instance_id, instance=instance)
        except ProvisioningFailedError as exc:  # timeout or a changed host key: destroy it
            self._clean_up_failed_up(instance_id, exc, on_progress)
            raise _EndedError(exc) from exc
        except BaseException as exc:
            failure = ProvisioningFailedError(f"interrupted while waiting for SSH: {exc!r}")
            self._clean_up_failed_up(instance_id, failure, on_progress)
            if isinstance(exc, Exception):
                raise _EndedError(failure) from exc
            raise
        ip = outputs.public_ip or outputs.private_ip or "no address"
        where = f"{instance.provider.lower()} {instance.region}"
        if meta.get("zone"):
            where += f" zone {meta['zone']}"
        kind = "spot " if meta.get("spot") else ""
        instance = self._move(
            instance,
            Status.READY,
            detail=f"ready at {ip}: {usable} ({kind}{instance.instance_type} in {where}, "
            f"attempt {number})",
            ready_at=self.clock(),
            **RELEASED,
        )
        return self.to_out(instance)

    def _preflight(self, engine: Engine, spec: InstanceSpec) -> None:
        """The cheap checks (the family's quota, resource providers registered) before anything
        is created: a FAIL refuses the up with the same line `doctor` prints (#13)."""
        target = Target(
            provider=spec.provider,
            region=spec.region,
            instance_type=spec.instance_type,
            vcpus=getattr(self.catalog.get(spec.provider, spec.instance_type), "vcpus", None),
            spot=spec.spot,
            subnet_id=spec.subnet_id,
        )
        refused = refusal(engine.preflight(target, cheap=True))
        if refused is not None:
            kind = "quota" if "quota" in refused.name else "auth"
            error = ProvisioningFailedError(as_line(refused), kind=kind)
            error.region_wide = True  # failover skips the region's other zones
            raise error

    def provision(
        self,
        request: ProvisionRequest,
        *,
        engine: str | None = None,
        on_progress: EventCallback | None = None,
    ) -> InstanceOut:
        """The seed's provisionInstance: returns once the instance is READY; raises if it FAILED."""
        instance = self.begin_provision(request, engine=engine)
        return self.run_provision(instance.id, on_progress=on_progress, instance=instance)

    def _clean_up_failed_up(
        self, instance_id: str, error: CloudError, on_progress: EventCallback | None
    ) -> None:
        """Destroy what a failed up created, then record FAILED with the cause."""
        self._end_running_attempt(instance_id)
        instance = self.ledger.require(instance_id)
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
            self._destroy_stack(instance, f"clean up failed up of {instance_id}", on_progress)
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

    def _check_budget(
        self,
        valid: ValidRequest,
        price_per_hour: Decimal,
        price_gb_month: Decimal,
        ipv4_per_hour: Decimal | None = None,
    ) -> None:
        from provisioner.ops.budgets import RequestCost, check_request

        request = RequestCost(
            user_id=valid.user_id,
            instance_type=valid.type.name,
            price_per_hour=price_per_hour,
            price_gb_month=price_gb_month,
            disk_gb=valid.disk_size_gb,
            minutes=valid.auto_terminate_minutes,
            ipv4_per_hour=ipv4_per_hour or Decimal(0),
        )
        check_request(self.ledger, request, now=self.clock())


def _reach_warnings(valid: ValidRequest) -> list[str]:
    """Who can reach the VM: nobody (no CIDR, no setup script: it can do nothing), or anyone."""
    warnings = []
    if not valid.allowed_ssh_cidrs and not valid.setup_script:
        warnings.append(
            "nobody can reach this instance: no --allow-ssh-from CIDR and no setup script "
            "(it will idle until its TTL)"
        )
    if any(cidr in ("0.0.0.0/0", "::/0") for cidr in valid.allowed_ssh_cidrs):
        warnings.append(
            "SSH is open to the whole internet (0.0.0.0/0); keys only, but consider "
            "--allow-ssh-from me"
        )
    return warnings
