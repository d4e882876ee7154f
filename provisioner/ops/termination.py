"""Termination: claim the destroy, run it, and record TERMINATED only once it succeeded."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlmodel import col

from provisioner.engine.base import EventCallback
from provisioner.ledger.models import Instance, InstanceOut
from provisioner.ops.leases import QUEUED, RELEASED
from provisioner.ops.retries import destroy_backoff
from provisioner.ops.service_core import ServiceCore, _ended, _iso
from provisioner.rules.errors import (
    CloudError,
    ConflictError,
    DestroyFailedError,
)
from provisioner.rules.lifecycle import Status


class Termination(ServiceCore):
    # -- termination ---------------------------------------------------------------------------

    def terminate(
        self, instance_id: str, *, reason: str = "user", on_progress: EventCallback | None = None
    ) -> InstanceOut:
        """Destroy the instance's stack; TERMINATED only once the destroy has succeeded."""
        claimed = self.begin_terminate(instance_id, reason=reason)
        if _ended(claimed):
            return self.to_out(claimed)
        return self.to_out(self.finish_destroy(claimed, reason=reason, on_progress=on_progress))

    def begin_terminate(self, instance_id: str, *, reason: str = "user") -> Instance:
        """Claim the destroy (STOPPING, with this process's lease); nothing is destroyed yet.

        An ended instance (TERMINATED, or FAILED with its clean-up done) is returned unchanged; a
        FAILED one whose clean-up is pending is claimed for a retry. PROVISIONING is refused.
        """
        instance = self.ledger.require(instance_id)
        if _ended(instance):
            return instance
        if instance.status == Status.PROVISIONING.value and instance.operation == QUEUED:
            try:
                return self.cancel_queued(instance, reason=f"cancelled by {reason}")
            except ConflictError:
                instance = self.ledger.require(instance_id)  # a replica picked it up just now
        if instance.status == Status.PROVISIONING.value:
            raise ConflictError(
                f"Instance {instance_id} is still PROVISIONING; terminate it once it is READY "
                "(a failed up cleans up after itself)"
            )
        return self.claim_destroy(instance, reason=reason)

    def cancel_queued(self, instance: Instance, *, reason: str) -> Instance:
        """End a queued up before any process started it: FAILED (error code CANCELLED), ended
        at once, costing nothing, since nothing exists in any cloud. ConflictError if it is no
        longer queued (a replica claimed it first)."""
        return self._move(
            instance,
            Status.FAILED,
            detail=f"queued up {reason}; nothing was created",
            where=[col(Instance.operation) == QUEUED],
            error=f"Provisioning {reason} before it started; nothing was created",
            error_code="CANCELLED",
            terminated_at=self.clock(),
            compute_cost=Decimal(0),
            storage_cost=Decimal(0),
            public_ip_cost=Decimal(0),
            total_cost=Decimal(0),
            **RELEASED,
        )

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
        try:
            self._destroy_stack(instance, f"provisioner down {instance.id} ({reason})", on_progress)
        except CloudError as exc:
            raise self._destroy_failed(instance, exc) from exc
        finally:
            self.leases.drop(instance.id)
        current = instance  # this process holds its lease: the row is as the claim left it
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
