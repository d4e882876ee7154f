"""The pickup loop: every `serve` replica takes recorded ups that no live process runs (#6).

A POST records its request before replying. The replica that got it runs the up when it has a
free worker; otherwise it leaves the request queued (`operation` "queued", its lease held by the
replica that queued it) and any replica with a free worker claims it here, whoever queued it. A
replica that dies mid-up leaves a stale lease (its heartbeat stops; on the same host its pid is
gone at once): the next replica to look claims the row from that owner and finishes the up.
Claims are conditional UPDATEs after `SELECT ... FOR UPDATE SKIP LOCKED` (`Leases.claim`), so of
several replicas exactly one wins.
"""

from __future__ import annotations

import logging
import threading

from sqlmodel import Session, col, select

from provisioner.api.workers import Workers
from provisioner.ledger.models import Instance
from provisioner.ops.leases import QUEUED
from provisioner.ops.provisioning import UP_STATES
from provisioner.ops.service import Provisioner

log = logging.getLogger(__name__)


class Pickup:
    def __init__(self, service: Provisioner, workers: Workers):
        self.service = service
        self.workers = workers

    def candidates(self, limit: int) -> list[Instance]:
        """Ups (PROVISIONING/CONFIGURING) queued or maybe abandoned, oldest first; what live
        peers hold is filtered out in SQL so it cannot crowd the queue out of `limit`."""
        query = (
            select(Instance)
            .where(col(Instance.status).in_(UP_STATES))
            .where(self.service.leases.maybe_stale() | (col(Instance.operation) == QUEUED))
            .order_by(col(Instance.created_at), col(Instance.id))
            .limit(limit)
        )
        with Session(self.service.ledger.engine, expire_on_commit=False) as session:
            return list(session.exec(query).all())

    def once(self) -> int:
        """Claim and start as many waiting ups as this replica has free workers: how many."""
        free = self.workers.free()
        if free <= 0:
            return 0
        leases = self.service.leases
        started = 0
        for instance in self.candidates(limit=free * 4):
            if started >= free:
                break
            queued = instance.operation == QUEUED
            unowned = instance.lease_owner is None  # queued before queues had owners
            if not queued and not unowned and not leases.is_stale(instance):
                continue  # a live replica runs it
            claimed = leases.claim(
                instance,
                operation="up",
                event_type="instance:claimed",
                detail="queued up picked up"
                if queued or unowned
                else f"taking over the interrupted up of {instance.lease_owner}",
                stale_owner=not queued and not unowned,
                queued=queued,
            )
            if claimed is None:
                continue  # another replica got there first
            self.workers.resume(claimed.id, interrupted=not (queued or unowned))
            started += 1
        return started

    def run(self, *, interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.once()
            except Exception:  # a database blip must not end the loop
                log.warning("pickup pass failed", exc_info=True)
            stop.wait(interval)


def start_pickup(service: Provisioner, workers: Workers, *, interval: float) -> threading.Event:
    """Run the loop in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=Pickup(service, workers).run,
        kwargs={"interval": interval, "stop": stop},
        name="provisioner-pickup",
        daemon=True,
    )
    thread.start()
    return stop
