"""The mocks the simulated engine runs the `stacks/` programs under: `SimulatedCloud` answers
each resource through `FakeCloud`, records it in the stack's file (`StackFile`) as it is created,
emits engine events, and refuses the VM with the clouds' own wording where a capacity rule
(`PROVISIONER_SIM_CAPACITY`) or an injected failure says so. engine.py drives them (#21: split
from engine.py at this seam; moves only)."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from provisioner.config import Settings
from provisioner.engine.base import EngineEvent, EventCallback
from provisioner.engine.processes import pid_alive
from provisioner.engine.simulated.capacity import CapacityRule, outcome_for
from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.rules.catalog import load_catalog
from provisioner.rules.errors import ConflictError
from stacks.spec import VM_RESOURCE_TYPES, InstanceSpec

# Failures worded as AWS / Azure / GCP word them, so classification sees what it would see for real.
FAILURES: dict[tuple[str, str], str] = {
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
GENERIC_FAILURE = "creating the VM: provider returned an unexpected error (injected failure)"
DESTROY_FAILURE = (
    "deleting the VM's resources: provider returned an unexpected error (injected failure); "
    "resources are still in place"
)


def now() -> datetime:
    return datetime.now(UTC)


class StackFile:
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
            "since": now().isoformat(),
        }
        self.save()

    def release(self) -> None:
        self.data["lock"] = None
        self.data["lastUpdate"] = now().isoformat()
        self.save()


class SimulatedCloud(Mocks):
    """FakeCloud plus the simulation knobs: delay, injected failure, and a state record."""

    def __init__(
        self,
        spec: InstanceSpec,
        settings: Settings,
        stack: StackFile,
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
        catalog = load_catalog(home=settings.home)
        zones = {r: catalog.zones_of(spec.provider, r) for r in catalog.regions(spec.provider)}
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
                template = FAILURES.get((self.spec.provider, kind), GENERIC_FAILURE)
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
