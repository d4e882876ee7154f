"""Preemption: a VM that vanished under a live ledger row (a spot interruption or eviction, or
anyone's delete outside provisioner).

The reaper asks each READY/RUNNING instance's engine whether its VM is still there
(`Engine.liveness`), claims the ones that are gone (STOPPING, as for any destroy), and hands them
here: what remains of the stack is destroyed, and the instance either ends TERMINATED (reason
`preempted`, billed up to the moment the VM vanished) or, when its request asked for `recover`,
is relaunched under the same id on the next candidate (a new stack and attempt).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from provisioner.ops.leases import RELEASED
from provisioner.ops.service_core import _iso
from provisioner.rules.errors import CloudError
from provisioner.rules.lifecycle import Status

if TYPE_CHECKING:
    from provisioner.ledger.models import Instance
    from provisioner.ops.service import Provisioner
    from provisioner.rules.billing import CostSplit

PREEMPTED = "preempted"


def wants_recovery(instance: Instance) -> bool:
    return bool(((instance.meta or {}).get("capacity") or {}).get("recover"))


def handle_preempted(service: Provisioner, claimed: Instance, vanished_at: datetime) -> str:
    """Destroy what remains of a vanished VM's stack, then end or relaunch the instance."""
    vanished_at = min(max(vanished_at, claimed.created_at), service.clock())
    kind = "spot VM reclaimed" if (claimed.meta or {}).get("spot") else "VM deleted"
    detail = (
        f"the VM vanished at {_iso(vanished_at)} ({kind} outside provisioner); "
        f"destroying what remains of stack {claimed.stack_name}"
    )
    service.ledger.note(
        claimed.id,
        event_type="instance:preempted",
        status=Status(claimed.status),
        at=service.clock(),
        detail=detail,
    )
    service._emit(
        "instance:preempted",
        {"instanceId": claimed.id, "vanishedAt": _iso(vanished_at), "detail": detail},
    )
    try:
        service._destroy_stack(claimed, f"provisioner reap {claimed.id} (preempted)", None)
    except CloudError as exc:
        service.leases.drop(claimed.id)
        raise service._destroy_failed(claimed, exc) from exc
    current = service.ledger.require(claimed.id)
    split = service._billed(current, vanished_at)
    if wants_recovery(current):
        return _relaunch(service, current, split)
    service.leases.drop(claimed.id)
    service._move(
        current,
        Status.TERMINATED,
        detail=f"stack destroyed ({PREEMPTED})",
        terminated_at=vanished_at,
        compute_cost=split.compute,
        storage_cost=split.storage,
        public_ip_cost=split.public_ipv4,
        total_cost=split.total,
        meta={**(current.meta or {}), "terminationReason": PREEMPTED},
        error=None,
        error_code=None,
        next_retry_at=None,
        **RELEASED,
    )
    return f"preempted at {_iso(vanished_at)}: TERMINATED"


def _relaunch(service: Provisioner, current: Instance, split: CostSplit) -> str:
    """Back to PROVISIONING under the same id, the cost so far carried over, then the next
    candidate's up (a new stack and attempt)."""
    now = service.clock()
    meta = dict(current.meta or {})
    meta["carriedCost"] = {
        "compute": str(split.compute),
        "storage": str(split.storage),
        "publicIpv4": str(split.public_ipv4),
    }
    meta["segmentStart"] = _iso(now)
    meta["recoveries"] = int(meta.get("recoveries") or 0) + 1
    moved = service._move(
        current,
        Status.PROVISIONING,
        detail=f"relaunching after preemption (recovery {meta['recoveries']}): a new launch "
        f"with its own budget of {service.max_attempts_of(current)} attempts, from the "
        "candidate after the preempted one",
        meta=meta,
        public_ip=None,
        private_ip=None,
        cloud_instance_id=None,
        ready_at=None,
        billed_from=None,  # the next VM bills from its own acceptance
        **service.leases.fields("up"),
    )
    service.leases.hold(moved.id)
    try:
        out = service.run_provision(moved.id)
    finally:
        service.leases.drop(moved.id)
    return f"preempted; relaunched on {out.provider} {out.instance_type} in {out.region}: READY"
