"""The simulated engine: the real `stacks/` programs, run in-process under Pulumi's mocks.

Nothing is created in any cloud. Resource creation is answered by `FakeCloud` with well-formed
ids and documentation-range addresses. Each stack's state (its resources and outputs) is kept in
`<home>/simulated-stacks/<name>.json`, so `outputs` and `destroy` work from another process, and a
process killed mid-`up` leaves the resources it had "created" on record, as a real backend would.
The PROVISIONER_SIM_* settings add delay and inject failures worded like the clouds' own errors.

The mocks the programs run under and the stack file are in mockcloud.py; the fake cloud, the
mock run, capacity rules and sshd are siblings.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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
from provisioner.engine.simulated.capacity import parse_rules
from provisioner.engine.simulated.mockcloud import (
    DESTROY_FAILURE,
    SimulatedCloud,
    StackFile,
    now,
)
from provisioner.engine.simulated.mockrun import run_program
from provisioner.rules.errors import (
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

    def _stack(self, name: str) -> StackFile:
        self.root.mkdir(parents=True, exist_ok=True)
        return StackFile(self.root / f"{name}.json", name)

    def _roll(self, probability: float) -> bool:
        return probability > 0 and self.rng.random() < probability

    def ensure_ready(self) -> None:
        # Every simulated VM gets an SSH endpoint: without sshd or asyncssh (the `sim` extra),
        # stop before anything is recorded, in one line (#21).
        sim_sshd.server_kind()

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
        cloud = SimulatedCloud(spec, self.settings, stack, fail_kind, on_event, self.rules)
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
        # The idle guard (#11) powers the OS off after idle_minutes without activity; the
        # simulated VM counts an `ssh_endpoint` ask (ssh, exec, run) as activity (#25).
        stack.data["provider"] = spec.provider
        stack.data["idleMinutes"] = spec.idle_minutes
        stack.data["poweredOffAt"] = None
        stack.data["idleStopAt"] = (
            (now() + timedelta(minutes=spec.idle_minutes)).isoformat()
            if spec.idle_minutes
            else None
        )
        if spec.spot and self.settings.sim_preempt_after is not None:
            # The cloud takes a spot VM back this long after READY (PROVISIONER_SIM_PREEMPT_AFTER).
            stack.data["preemptAt"] = (
                now() + timedelta(seconds=self.settings.sim_preempt_after)
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
            if preempt_at and vanished is None and now() >= datetime.fromisoformat(preempt_at):
                vanished = preempt_at
                stack.data["vanishedAt"] = vanished
                stack.data["resources"] = [
                    r for r in stack.data["resources"] if r["type"] not in VM_RESOURCE_TYPES
                ]
                stack.save()
            has_vm = any(r["type"] in VM_RESOURCE_TYPES for r in stack.data["resources"])
            if has_vm:
                self._idle_guard(stack)
                has_vm = any(r["type"] in VM_RESOURCE_TYPES for r in stack.data["resources"])
                vanished = stack.data.get("vanishedAt")
            powered_off = stack.data.get("poweredOffAt")
        if has_vm and powered_off:
            return Liveness(
                alive=True,
                stopped=True,
                vanished_at=datetime.fromisoformat(powered_off),
                detail="the idle guard powered the OS off; the (simulated) cloud keeps the VM "
                "allocated",
            )
        if has_vm:
            return Liveness(alive=True)
        if vanished and powered_off:
            return Liveness(
                alive=False,
                vanished_at=datetime.fromisoformat(vanished),
                detail="the idle guard shut the VM down and the (simulated) cloud terminated it",
            )
        if vanished:
            return Liveness(
                alive=False,
                vanished_at=datetime.fromisoformat(vanished),
                detail="the spot VM was reclaimed by the (simulated) cloud",
            )
        return Liveness(alive=False, detail="the VM is gone from the (simulated) cloud")

    def _idle_guard(self, stack: StackFile) -> None:
        """The on-VM idle guard, past its time: `shutdown -h now`. AWS terminates the instance
        (instance_initiated_shutdown_behavior); Azure and GCP keep a stopped VM (Azure still
        bills its compute). Called under the stack's lock."""
        due = stack.data.get("idleStopAt")
        if not due or stack.data.get("poweredOffAt") or now() < datetime.fromisoformat(due):
            return
        stack.data["poweredOffAt"] = due
        sim_sshd.stop(sim_sshd.vms_root(self.settings.home) / stack.name)
        stack.data["sshEndpoint"] = None
        if stack.data.get("provider") == "AWS":
            stack.data["vanishedAt"] = due
            stack.data["resources"] = [
                r for r in stack.data["resources"] if r["type"] not in VM_RESOURCE_TYPES
            ]
        stack.save()

    def _start_vm(self, spec: InstanceSpec, stack: StackFile) -> None:
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
                raise DestroyFailedError(f"[simulated] {DESTROY_FAILURE}", kind="error")
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
                stack.data["idleStopAt"] = None
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
        stack.data["lastRefresh"] = now().isoformat()
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
        if stack.data.get("idleStopAt") and stack.data.get("idleMinutes"):
            # Someone uses the VM (ssh, exec, run): the idle guard starts counting again. Under
            # the lock, on a fresh read: a stale copy saved over a destroy resurrects it (#26).
            with _file_lock(self._lock_path(stack_name)):
                if not (self.root / f"{stack_name}.json").exists():
                    return None
                fresh = self._stack(stack_name)
                if fresh.data.get("idleStopAt") and fresh.data.get("resources"):
                    minutes = int(fresh.data["idleMinutes"])
                    fresh.data["idleStopAt"] = (now() + timedelta(minutes=minutes)).isoformat()
                    fresh.save()
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
            if self._stop_if_stray(name, folder):
                actions.append((name, "stopped"))
                continue
            recorded = self._recorded_endpoint(name)
            if recorded is None or sim_sshd.is_running(recorded):
                continue
            try:
                self.ssh_endpoint(name, revive=True)
            except FileNotFoundError:
                # Its destroy (another process's, or another sweep's) removed the VM while
                # this sweep looked: nothing to restart.
                continue
            actions.append((name, "restarted"))
        return actions

    def _stop_if_stray(self, name: str, folder: Path) -> bool:
        """Decided under the stack's lock on a fresh read (#26): an up that is starting this VM
        (its folder and sshd exist, its stack file records no endpoint yet) is not a stray
        endpoint; stopping it left the up waiting for an SSH server that never answers."""
        with _file_lock(self._lock_path(name)):
            data = self._read(name)
            holder = data.get("lock")
            if (
                isinstance(holder, dict)
                and holder.get("operation") == "update"
                and pid_alive(int(holder.get("pid") or 0))
            ):
                return False
            if data.get("resources") and data.get("sshEndpoint"):
                return False
            sim_sshd.stop(folder)
            return True

    def _read(self, name: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.root / f"{name}.json").read_text())
        except FileNotFoundError:
            return {}
        return data

    def _recorded_endpoint(self, name: str) -> sim_sshd.Endpoint | None:
        recorded = self._read(name).get("sshEndpoint")
        return sim_sshd.Endpoint.from_json(recorded) if recorded else None

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
