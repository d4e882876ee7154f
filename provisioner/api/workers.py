"""A bounded pool for the long operations (up, destroy), so requests return at once.

At most `max_parallel` ups and destroys run together; more wait in the pool's queue. One
operation per instance at a time: a second request for one already running gets the same future.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from provisioner.ledger.models import InstanceOut
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import ConflictError, ProvisionerError

log = logging.getLogger(__name__)


class Workers:
    def __init__(self, service: Provisioner, max_parallel: int):
        self.service = service
        self.max_parallel = max_parallel
        self._pool = ThreadPoolExecutor(max_parallel, thread_name_prefix="provisioner-op")
        self._lock = threading.Lock()
        self._running: dict[str, tuple[str, Future[InstanceOut]]] = {}
        self._active = 0  # operations running now (the rest of _running wait in the queue)

    def provision(self, instance_id: str) -> Future[InstanceOut]:
        """Run the up of a PROVISIONING instance (recorded by `begin_provision`)."""
        return self._submit(instance_id, "up", lambda: self.service.run_provision(instance_id))

    def resume(self, instance_id: str, *, interrupted: bool) -> Future[InstanceOut]:
        """Run the up of a PROVISIONING instance the pickup loop claimed (see `pickup`)."""
        return self._submit(
            instance_id,
            "up",
            lambda: self.service.resume_provision(instance_id, interrupted=interrupted),
        )

    def free(self) -> int:
        """Workers neither busy nor promised to a queued operation."""
        with self._lock:
            return self.max_parallel - len(self._running)

    def terminate(self, instance_id: str, reason: str) -> Future[InstanceOut]:
        """Run the destroy of an instance `begin_terminate` moved to STOPPING."""
        if self.operation(instance_id) == "up":
            raise ConflictError(
                f"Instance {instance_id} is still being provisioned; terminate it once it is "
                "READY (a failed up cleans up after itself)"
            )
        return self._submit(
            instance_id,
            "destroy",
            lambda: self.service.finish_terminate(instance_id, reason=reason),
        )

    def operation(self, instance_id: str) -> str | None:
        """ "up" or "destroy" while one runs (or waits) for this instance here."""
        with self._lock:
            running = self._running.get(instance_id)
            return running[0] if running else None

    def pending(self, instance_id: str) -> Future[InstanceOut] | None:
        with self._lock:
            running = self._running.get(instance_id)
            return running[1] if running else None

    def load(self) -> dict[str, int]:
        """How many operations run now and how many wait for a free worker."""
        with self._lock:
            return {"running": self._active, "queued": len(self._running) - self._active}

    def _submit(
        self, instance_id: str, kind: str, work: Callable[[], InstanceOut]
    ) -> Future[InstanceOut]:
        with self._lock:
            running = self._running.get(instance_id)
            if running is not None and running[0] == kind:
                return running[1]
            future = self._pool.submit(self._run, instance_id, kind, work)
            self._running[instance_id] = (kind, future)

        def forget(_done: Future[InstanceOut]) -> None:
            with self._lock:
                if self._running.get(instance_id, (None, None))[1] is future:
                    del self._running[instance_id]

        future.add_done_callback(forget)
        return future

    def _run(self, instance_id: str, kind: str, work: Callable[[], InstanceOut]) -> InstanceOut:
        with self._lock:
            self._active += 1
        try:
            return work()
        except ProvisionerError as exc:  # recorded in the ledger by the service
            log.info("%s of %s failed: %s", kind, instance_id, exc.message)
            raise
        except Exception:
            log.exception("%s of %s failed unexpectedly", kind, instance_id)
            raise
        finally:
            with self._lock:
                self._active -= 1

    def close(self) -> None:
        """Let every started and queued operation finish: none is left half-done."""
        self._pool.shutdown(wait=True)
