"""The simulated engine: the real `stacks/` programs, run in-process under Pulumi's mocks.

Nothing is created in any cloud. Resource creation is answered by `FakeCloud` with well-formed
ids and documentation-range addresses. Each stack's state (its resources and outputs) is kept in
`<home>/simulated-stacks/<name>.json`, so `outputs` and `destroy` work from another process, and a
process killed mid-`up` leaves the resources it had "created" on record, as a real backend would.
The PROVISIONER_SIM_* settings add delay and inject failures worded like the clouds' own errors.

Over 450 lines: the engine class and the mocks it runs the programs under share the stack file
and the injection knobs; the fake cloud, the mock run, capacity rules and sshd are siblings.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from provisioner.config import Settings
from provisioner.engine.base import (
    DoctorCheck,
    EngineEvent,
    EventCallback,
    HistoryEntry,
    Liveness,
    SshEndpoint,
    StackInfo,
    StackOutputs,
)
from provisioner.engine.preflight import Target
from provisioner.engine.processes import pid_alive
from provisioner.engine.simulated import sshd as sim_sshd
from provisioner.engine.simulated.capacity import CapacityRule, outcome_for, parse_rules
from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import run_program
from provisioner.rules.catalog import load_catalog
from provisioner.rules.errors import (
    ConflictError,
    DestroyFailedError,
    ProvisioningFailedError,
    classify_cloud_message,
)
from stacks import program_for
from stacks.spec import (
    OUTPUT_CLOUD_INSTANCE_ID,
    OUTPUT_METADATA,
    OUTPUT_PRIVATE_IP,
    OUTPUT_PUBLIC_IP,
    VM_RESOURCE_TYPES,
    InstanceSpec,
)

PROJECT = "gpu-provisioner"

# Failures worded as AWS / Azure / GCP word them, so classification sees what it would see for real.
_FAILURES: dict[tuple[str, str], str] = {
    ("AWS", "capacity"): (
        "creating EC2 Instance: operation error EC2: RunInstances, api error "
        "InsufficientInstanceCapacity: We currently do not have sufficient {type} capacity in "
        "the Availability Zone you requested ({zone}). Our system will be working on "
        "provisioning additional capacity. You can currently get {type} capacity by not "
        "specifying an Availability Zone in your request or choosing another zone."
    ),
    ("AWS", "spot-quota"): (
        "creating EC2 Instance: operation error EC2: RunInstances, api error "
        "MaxSpotInstanceCountExceeded: Max spot instance count exceeded"
    ),
    ("AZURE", "zonal-capacity"): (
        'Code="ZonalAllocationFailed" Message="Allocation failed. We do not have sufficient '
        "capacity for the requested VM size in this zone. Read more about improving likelihood "
        'of allocation success at http://aka.ms/allocation-guidance"'
    ),
    ("AZURE", "spot-quota"): (
        'Code="OperationNotAllowed" Message="Operation could not be completed as it results in '
        "exceeding approved LowPriorityCores quota. Additional details - Deployment Model: "
        "Resource Manager, Location: {region}, Current Limit: 0, Current Usage: 0, Additional "
        'Required: 4, (Minimum) New Limit Required: 4."'
    ),
    ("AWS", "quota"): (
        "creating EC2 Instance: operation error EC2: RunInstances, api error VcpuLimitExceeded: "
        "You have requested more vCPU capacity than your current vCPU limit of 0 allows for the "
        "instance bucket that the specified instance type belongs to."
    ),
    ("AZURE", "capacity"): (
        'Code="SkuNotAvailable" Message="The requested VM size for resource '
        "'Following SKUs have failed for Capacity Restrictions: {type}' is currently not "
        "available in location '{region}'. Please try another size or deploy to a different "
        'location or zones."'
    ),
    ("AZURE", "quota"): (
        'Code="OperationNotAllowed" Message="Operation could not be completed as it results in '
        "exceeding approved {type} Family Cores quota. Location: {region}, Current Limit: 0, "
        'Current Usage: 0, Additional Required: 6."'
    ),
    # terraform-provider-google prints a failed operation's message (its code only in details).
    ("GCP", "capacity"): (
        "creating Instance: Error waiting for instance to create: The zone "
        "'projects/provisioner-simulated/zones/{zone}' does not have enough resources "
        "available to fulfill the request.  Try a different zone, or try again later. "
        "(ZONE_RESOURCE_POOL_EXHAUSTED)"
    ),
    ("GCP", "spot-quota"): (
        "creating Instance: googleapi: Error 403: Quota 'PREEMPTIBLE_NVIDIA_L4_GPUS' exceeded.  "
        "Limit: 0.0 in region {region}., quotaExceeded"
    ),
    ("GCP", "quota"): (
        "creating Instance: googleapi: Error 403: Quota 'GPUS_ALL_REGIONS' exceeded.  "
        "Limit: 0.0 globally., quotaExceeded"
    ),
}
_GENERIC_FAILURE = "creating the VM: provider returned an unexpected error (injected failure)"
_DESTROY_FAILURE = (
    "deleting the VM's resources: provider returned an unexpected error (injected failure); "
    "resources are still in place"
)


def _now() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (flock) for a read-modify-write of a stack file (#26):
    a revive or a preemption that read the file before a destroy finished must not write its
    stale copy (resources and all) over the destroy's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class _StackFile:
    """One simulated stack's state on disk, written atomically after every change."""

    def __init__(self, path: Path, name: str):
        self.path = path
        self.name = name
        self.lock = threading.Lock()
        self.data: dict[str, Any] = {"name": name, "resources": [], "outputs": {}, "tags": {}}
        if path.exists():
            self.data = json.loads(path.read_text())

    def save(self) -> None:
        tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)

    def acquire(self, operation: str) -> None:
        holder = self.data.get("lock")
        if holder and holder["pid"] != os.getpid() and pid_alive(holder["pid"]):
            raise ConflictError(
                f"[simulated] the stack is currently locked by process {holder['pid']} "
                f"({holder['operation']} since {holder['since']})"
            )
        self.data["lock"] = {
            "pid": os.getpid(),
            "operation": operation,
            "since": _now().isoformat(),
        }
        self.save()

    def release(self) -> None:
        self.data["lock"] = None
        self.data["lastUpdate"] = _now().isoformat()
        self.save()


class _SimulatedCloud(Mocks):
    """FakeCloud plus the simulation knobs: delay, injected failure, and a state record."""

    def __init__(
        self,
        spec: InstanceSpec,
        settings: Settings,
        stack: _StackFile,
        fail_kind: str | None,
        on_event: EventCallback | None,
        rules: list[CapacityRule] | None = None,
    ):
        self.spec = spec
        self.settings = settings
        self.stack = stack
        self.fail_kind = fail_kind
        self.on_event = on_event
        self.rules = rules or []
        zones = load_catalog(home=settings.home).zones.get(spec.provider, {})
        self.cloud = FakeCloud(seed=spec.stack_name, zones=zones, offered=self._offered)

    def _offered(self, region: str, itype: str, zones: list[str]) -> list[str]:
        return [
            zone
            for zone in zones
            if outcome_for(
                self.rules,
                self.spec.provider,
                region,
                zone,
                itype,
                self.spec.spot,
                kinds=("unsupported",),
            )
            is None
        ]

    def _vm_zone(self, args: MockResourceArgs) -> str | None:
        if args.inputs.get("availabilityZone"):
            return str(args.inputs["availabilityZone"])
        zones = args.inputs.get("zones") or args.inputs.get("zone")
        if isinstance(zones, list):
            return str(zones[0]) if zones else None
        return None if zones is None else str(zones)

    def _refusal(self, zone: str | None) -> str | None:
        """The failure kind of the VM's creation: an injected one, else a capacity rule's."""
        if self.fail_kind is not None:
            return self.fail_kind
        spec = self.spec
        outcome = outcome_for(
            self.rules, spec.provider, spec.region, zone, spec.instance_type, spec.spot
        )
        if outcome == "none":
            return "zonal-capacity" if spec.provider == "AZURE" and zone else "capacity"
        if outcome == "quota":
            return "spot-quota" if spec.spot else "quota"
        return None

    def _emit(self, args: MockResourceArgs, status: str, message: str) -> None:
        if self.on_event is not None:
            self.on_event(
                EngineEvent(
                    kind="resource",
                    message=message,
                    resource_type=args.typ,
                    resource_name=args.name,
                    op="create",
                    status=status,
                )
            )

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        is_vm = args.typ in VM_RESOURCE_TYPES
        self._emit(args, "started", f"creating {args.typ} {args.name}")
        if is_vm:
            # Half the delay before the VM exists (network, disks), half while it boots.
            time.sleep(self.settings.sim_delay / 2)
            zone = self._vm_zone(args)
            kind = self._refusal(zone)
            if kind is not None:
                template = _FAILURES.get((self.spec.provider, kind), _GENERIC_FAILURE)
                message = "[simulated] " + template.format(
                    type=self.spec.instance_type,
                    region=self.spec.region,
                    zone=zone or f"{self.spec.region}a",
                )
                self._emit(args, "failed", message)
                raise RuntimeError(message)
        resource_id, state = self.cloud.new_resource(args)
        with self.stack.lock:
            # An up that resumes an interrupted one replaces what that one created, as Pulumi's
            # state would: one entry per (type, name).
            self.stack.data["resources"] = [
                r
                for r in self.stack.data["resources"]
                if (r["type"], r["name"]) != (args.typ, args.name)
            ]
            self.stack.data["resources"].append(
                {"type": args.typ, "name": args.name, "id": resource_id}
            )
            self.stack.save()
        self._emit(args, "done", f"created {args.typ} {args.name}")
        return resource_id, state

    def call(self, args: MockCallArgs) -> Any:
        return self.cloud.call(args)


class SimulatedEngine:
    """Engine protocol implementation; every result it gives is labelled simulated."""

    name = "simulated"
    simulated = True

    def __init__(self, settings: Settings, *, rng: random.Random | None = None):
        self.settings = settings
        self.root = settings.home / "simulated-stacks"
        self.rng = rng or random.Random()
        self.rules = parse_rules(settings.sim_capacity)

    def _lock_path(self, name: str) -> Path:
        return self.root / f"{name}.lock"

    def _stack(self, name: str) -> _StackFile:
        self.root.mkdir(parents=True, exist_ok=True)
        return _StackFile(self.root / f"{name}.json", name)

    def _roll(self, probability: float) -> bool:
        return probability > 0 and self.rng.random() < probability

    def ensure_ready(self) -> None:
        return None

    def up(
        self, spec: InstanceSpec, *, message: str, on_event: EventCallback | None = None
    ) -> StackOutputs:
        stack = self._stack(spec.stack_name)
        stack.acquire("update")
        stack.data["tags"] = {
            "provisioner:user-id": spec.user_id,
            "provisioner:instance-id": spec.instance_id,
        }
        if spec.attempt > 1:
            stack.data["tags"]["provisioner:attempt"] = str(spec.attempt)
        if spec.task_id:
            stack.data["tags"]["provisioner:task-id"] = spec.task_id
        stack.data["message"] = message
        fail_kind = self.settings.sim_fail_kind if self._roll(self.settings.sim_fail_up) else None
        cloud = _SimulatedCloud(spec, self.settings, stack, fail_kind, on_event, self.rules)
        try:
            run = run_program(program_for(spec), cloud, project=PROJECT, stack=spec.stack_name)
            time.sleep(self.settings.sim_delay / 2)  # the VM boots
        except Exception as exc:
            stack.release()
            text = str(exc)
            kind, code = classify_cloud_message(text)
            raise ProvisioningFailedError(
                text if text.startswith("[simulated]") else f"[simulated] {text}",
                kind=kind,
                provider_code=code,
            ) from exc
        stack.data["outputs"] = run.outputs
        stack.data["preemptAt"] = None
        if spec.spot and self.settings.sim_preempt_after is not None:
            # The cloud takes a spot VM back this long after READY (PROVISIONER_SIM_PREEMPT_AFTER).
            stack.data["preemptAt"] = (
                _now() + timedelta(seconds=self.settings.sim_preempt_after)
            ).isoformat()
        try:
            self._start_vm(spec, stack)
        finally:
            stack.release()
        return _outputs_from(run.outputs)

    def liveness(self, stack_name: str) -> Liveness:
        """Reads the stack's file: no cloud call, so a sweep's check costs one file read per
        live instance. A spot VM past its preemption time is removed from the stack's resources
        here, as the cloud would have removed it."""
        if not (self.root / f"{stack_name}.json").exists():
            return Liveness(alive=False, detail="no such stack")
        with _file_lock(self._lock_path(stack_name)):
            if not (self.root / f"{stack_name}.json").exists():
                return Liveness(alive=False, detail="no such stack")
            stack = self._stack(stack_name)
            preempt_at = stack.data.get("preemptAt")
            vanished = stack.data.get("vanishedAt")
            if preempt_at and vanished is None and _now() >= datetime.fromisoformat(preempt_at):
                vanished = preempt_at
                stack.data["vanishedAt"] = vanished
                stack.data["resources"] = [
                    r for r in stack.data["resources"] if r["type"] not in VM_RESOURCE_TYPES
                ]
                stack.save()
            has_vm = any(r["type"] in VM_RESOURCE_TYPES for r in stack.data["resources"])
        if has_vm:
            return Liveness(alive=True)
        if vanished:
            return Liveness(
                alive=False,
                vanished_at=datetime.fromisoformat(vanished),
                detail="the spot VM was reclaimed by the (simulated) cloud",
            )
        return Liveness(alive=False, detail="the VM is gone from the (simulated) cloud")

    def _start_vm(self, spec: InstanceSpec, stack: _StackFile) -> None:
        """Give the VM its real SSH endpoint (a resumed up keeps a live one)."""
        recorded = stack.data.get("sshEndpoint")
        if recorded and sim_sshd.is_running(sim_sshd.Endpoint.from_json(recorded)):
            return
        endpoint = sim_sshd.create(
            self.settings.home,
            spec.stack_name,
            public_key=spec.ssh_public_key,
            cidrs=spec.allowed_ssh_cidrs,
            setup_script=spec.setup_script,
        )
        stack.data["sshEndpoint"] = endpoint.to_json()
        stack.save()

    def destroy(
        self, stack_name: str, *, message: str, on_event: EventCallback | None = None
    ) -> None:
        if not (self.root / f"{stack_name}.json").exists():
            return
        with _file_lock(self._lock_path(stack_name)):
            stack = self._stack(stack_name)
            stack.acquire("destroy")
        try:
            time.sleep(self.settings.sim_delay)
            if self._roll(self.settings.sim_fail_destroy):
                raise DestroyFailedError(f"[simulated] {_DESTROY_FAILURE}", kind="error")
            for resource in reversed(stack.data["resources"]):
                if on_event is not None:
                    on_event(
                        EngineEvent(
                            kind="resource",
                            message=f"deleted {resource['type']} {resource['name']}",
                            resource_type=resource["type"],
                            resource_name=resource["name"],
                            op="delete",
                            status="done",
                        )
                    )
            with _file_lock(self._lock_path(stack_name)):
                # Every process of the VM goes with it (its sshd, then all in its sandbox).
                sim_sshd.stop(sim_sshd.vms_root(self.settings.home) / stack_name)
                stack.data["sshEndpoint"] = None
                stack.data["resources"] = []
                stack.data["outputs"] = {}
                stack.data["preemptAt"] = None
                stack.data["message"] = message
                stack.release()
        except BaseException:
            with _file_lock(self._lock_path(stack_name)):
                stack.release()
            raise

    def recover(self, stack_name: str) -> None:
        """`cancel` (drop the dead holder's lock) and `refresh`: the simulation records a resource
        only once it exists, so there are no pending creates to clear."""
        if not (self.root / f"{stack_name}.json").exists():
            return
        stack = self._stack(stack_name)
        stack.data["lock"] = None
        stack.data["lastRefresh"] = _now().isoformat()
        stack.save()

    def stack_tags(self, stack_name: str) -> dict[str, str]:
        if not (self.root / f"{stack_name}.json").exists():
            return {}
        return dict(self._stack(stack_name).data.get("tags") or {})

    def outputs(self, stack_name: str) -> StackOutputs:
        return _outputs_from(self._stack(stack_name).data.get("outputs") or {})

    def history(self, stack_name: str) -> list[HistoryEntry] | None:
        return None  # the simulation keeps no Pulumi update history; the ledger has the events

    def list_stacks(self) -> list[StackInfo]:
        if not self.root.exists():
            return []
        stacks = []
        for path in sorted(self.root.glob("*.json")):
            try:
                data = json.loads(path.read_text())
            except FileNotFoundError:  # removed (gc) between the listing and the read
                continue
            last = data.get("lastUpdate")
            stacks.append(
                StackInfo(
                    name=data["name"],
                    resource_count=len(data["resources"]),
                    last_update=datetime.fromisoformat(last) if last else None,
                    tags=data.get("tags", {}),
                )
            )
        return stacks

    def ssh_endpoint(self, stack_name: str, *, revive: bool = False) -> SshEndpoint | None:
        """The simulated VM's local sshd; restarted (same host key) if it died while the VM
        still exists, as a rebooted VM would come back."""
        if not (self.root / f"{stack_name}.json").exists():
            return None
        stack = self._stack(stack_name)
        recorded = stack.data.get("sshEndpoint")
        if not recorded:
            return None
        endpoint = sim_sshd.Endpoint.from_json(recorded)
        if revive and not sim_sshd.is_running(endpoint) and stack.data.get("resources"):
            # Decided again under the lock, on a fresh read: a destroy that finished (or holds
            # the stack) since the first read means no revive, ever (#26).
            with _file_lock(self._lock_path(stack_name)):
                if not (self.root / f"{stack_name}.json").exists():
                    return None
                stack = self._stack(stack_name)
                recorded = stack.data.get("sshEndpoint")
                holder = stack.data.get("lock")
                busy = isinstance(holder, dict) and holder.get("operation") == "destroy"
                if not recorded or busy or not stack.data.get("resources"):
                    return None
                endpoint = sim_sshd.Endpoint.from_json(recorded)
                if not sim_sshd.is_running(endpoint):
                    endpoint = sim_sshd.restart(endpoint)
                    stack.data["sshEndpoint"] = endpoint.to_json()
                    stack.save()
        return SshEndpoint(host=endpoint.host, port=endpoint.port, user=endpoint.user)

    def sweep_endpoints(self) -> list[tuple[str, str]]:
        """Stop the endpoints of VMs whose stack is gone (a destroy that died half-way, a crash),
        restart those of live VMs whose sshd died."""
        actions = []
        for folder in sim_sshd.existing(self.settings.home):
            name = folder.name
            path = self.root / f"{name}.json"
            data = json.loads(path.read_text()) if path.exists() else {}
            recorded = data.get("sshEndpoint")
            if not data.get("resources") or not recorded:
                sim_sshd.stop(folder)
                actions.append((name, "stopped"))
                continue
            endpoint = sim_sshd.Endpoint.from_json(recorded)
            if not sim_sshd.is_running(endpoint):
                try:
                    self.ssh_endpoint(name, revive=True)
                except FileNotFoundError:
                    # Its destroy (another process's, or another sweep's) removed the VM while
                    # this sweep looked: nothing to restart.
                    continue
                actions.append((name, "restarted"))
        return actions

    keeps_history_in_backend = False

    def remove_stack(self, stack_name: str) -> bool:
        path = self.root / f"{stack_name}.json"
        if not path.exists():
            return False
        if self._stack(stack_name).data.get("resources"):
            raise DestroyFailedError(
                f"[simulated] stack {stack_name} still holds resources; destroy it first"
            )
        path.unlink(missing_ok=True)
        self._lock_path(stack_name).unlink(missing_ok=True)
        return True

    def preflight(self, target: Target, *, cheap: bool) -> list[DoctorCheck]:
        return [] if cheap else _no_preflight(target)

    def doctor(self) -> list[DoctorCheck]:
        return [
            DoctorCheck(
                "engine", True, "simulated: programs run under Pulumi mocks; nothing is created"
            ),
            DoctorCheck("simulated state", True, str(self.root)),
        ]


def _no_preflight(target: Target) -> list[DoctorCheck]:
    return [
        DoctorCheck(
            f"{target.provider.lower()} preconditions",
            True,
            "simulated: the cloud's quotas and registrations are not asked",
            state="CANNOT CHECK",
        )
    ]


def _outputs_from(outputs: dict[str, Any]) -> StackOutputs:
    return StackOutputs(
        public_ip=outputs.get(OUTPUT_PUBLIC_IP),
        private_ip=outputs.get(OUTPUT_PRIVATE_IP),
        cloud_instance_id=outputs.get(OUTPUT_CLOUD_INSTANCE_ID),
        metadata=dict(outputs.get(OUTPUT_METADATA) or {}),
    )
