"""The Engine protocol: what the service needs from anything that creates and destroys stacks.

Engines raise `ProvisioningFailedError` / `DestroyFailedError` (with `kind` classified) for cloud
failures and `EngineUnavailableError` when they cannot run at all. They never touch the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from stacks.spec import InstanceSpec


@dataclass(frozen=True)
class EngineEvent:
    """A progress note from a running up/destroy.

    kind: "resource" (a resource step), "diagnostic" (a message from Pulumi or the cloud),
    "info" (the engine's own note). For "resource" events, `op` is create/delete/... and
    `status` is "started" | "done" | "failed".
    """

    kind: str
    message: str
    resource_type: str | None = None
    resource_name: str | None = None
    op: str | None = None
    status: str | None = None
    severity: str = "info"


EventCallback = Callable[[EngineEvent], None]


@dataclass(frozen=True)
class StackOutputs:
    public_ip: str | None
    private_ip: str | None
    cloud_instance_id: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryEntry:
    """One update of a stack (Pulumi's UpdateSummary, trimmed)."""

    version: int
    kind: str  # update | destroy | refresh | ...
    result: str  # succeeded | failed | in-progress
    start_time: datetime
    end_time: datetime | None
    message: str
    resource_changes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StackInfo:
    """A stack the backend knows, for orphan sweeps."""

    name: str
    resource_count: int | None
    last_update: datetime | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Liveness:
    """Whether a stack's VM still exists in the cloud (#12: preemption, eviction, manual delete).

    `alive` None: the engine could not tell (it keeps the instance as it is). `vanished_at`: when
    the VM disappeared, if the engine knows (else the caller uses the time it noticed)."""

    alive: bool | None
    vanished_at: datetime | None = None
    detail: str = ""
    # The VM exists but its OS powered off (the idle guard's or the deadman's `shutdown -h`):
    # Azure keeps it allocated and billing compute, GCP bills its disk. The reaper destroys it
    # (#25); `vanished_at` is then when it stopped, if the engine knows.
    stopped: bool = False


@dataclass(frozen=True)
class SshEndpoint:
    """Where a VM's SSH answers when that is not its public IP on port 22 (the simulated VMs'
    local sshd), and the user to log in as there."""

    host: str
    port: int
    user: str


@dataclass(frozen=True)
class DoctorCheck:
    """One doctor line. `ok` False fails `doctor`; a check that could not be made (offline, no
    credentials to ask with) is ok with state "CANNOT CHECK" and says why in `detail`."""

    name: str
    ok: bool
    detail: str
    state: str = ""  # PASS | FAIL | CANNOT CHECK | WARN; empty: PASS or FAIL from `ok`
    fix: str | None = None

    @property
    def status(self) -> str:
        return self.state or ("PASS" if self.ok else "FAIL")

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "ok": self.ok,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Target:
    """What the clouds' preconditions are checked for (`Engine.preflight`, #13): an up's type
    in its region, or (`instance_type` None) any GPU type there."""

    provider: str
    region: str
    instance_type: str | None = None
    vcpus: int | None = None
    spot: bool = False
    subnet_id: str | None = None


@runtime_checkable
class Engine(Protocol):
    name: str
    # True only for engines whose results are not real cloud resources.
    simulated: bool

    def ensure_ready(self) -> None:
        """Raise EngineUnavailableError (saying the fix) if this engine cannot run here."""
        ...

    def up(
        self, spec: InstanceSpec, *, message: str, on_event: EventCallback | None = None
    ) -> StackOutputs:
        """Create (or select) the stack named `spec.stack_name` (one per attempt) and run `up`."""
        ...

    def destroy(
        self, stack_name: str, *, message: str, on_event: EventCallback | None = None
    ) -> None:
        """Destroy every resource of the stack, keeping the stack and its history."""
        ...

    def recover(self, stack_name: str) -> None:
        """After the process running an operation died: clear the stack's lock (cancel) and
        refresh it, dropping pending creates, so a destroy can run."""
        ...

    def liveness(self, stack_name: str) -> Liveness:
        """Whether the stack's VM is still there (the reaper asks once per sweep)."""
        ...

    def stack_tags(self, stack_name: str) -> dict[str, str]: ...

    def outputs(self, stack_name: str) -> StackOutputs: ...

    def history(self, stack_name: str) -> list[HistoryEntry] | None:
        """The stack's update history, or None when the engine keeps none."""
        ...

    def list_stacks(self) -> list[StackInfo]: ...

    def doctor(self) -> list[DoctorCheck]:
        """Readiness checks; never prints or returns credential values."""
        ...

    def ssh_endpoint(self, stack_name: str, *, revive: bool = False) -> SshEndpoint | None:
        """The VM's SSH endpoint when it is not `publicIp:22` (None: it is). `revive`: restart
        a local endpoint that died while its VM still exists."""
        ...

    def sweep_endpoints(self) -> list[tuple[str, str]]:
        """Local processes the engine keeps for its VMs: stop those whose stack is gone, restart
        those that died. Returns (stack name, what was done)."""
        ...

    def remove_stack(self, stack_name: str) -> bool:
        """Remove an empty (destroyed) stack and its history from the backend (`gc`, #13);
        False when there is no such stack. Refuses a stack that still holds resources."""
        ...

    @property
    def keeps_history_in_backend(self) -> bool:
        """True where the backend is the users' audit trail (Pulumi Cloud): gc keeps stacks."""
        ...

    def preflight(self, target: Target, *, cheap: bool) -> list[DoctorCheck]:
        """What the cloud will refuse for `target` (quotas, providers, network, identity);
        `cheap`: the subset an up runs before creating anything (#13)."""
        ...
