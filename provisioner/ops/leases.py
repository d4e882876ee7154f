"""Leases on long operations (up, destroy): who runs one and until when, kept alive by a heartbeat.

A lease is three columns of `instances`: `operation`, `lease_owner`, `lease_expires_at`. The process
running an operation holds its lease, and a heartbeat thread pushes `lease_expires_at` forward
every third of the lease time while it does. A lease is stale when it expired (the holder stopped
renewing it: kill -9, a reboot, a hung host) or, sooner, when its owner is a process on this machine
that no longer exists. Leases are taken by conditional UPDATEs, so of two processes only one wins.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from provisioner.engine.processes import pid_alive
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import Instance, InstanceEvent

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# What a row holds when no operation runs on it.
RELEASED: dict[str, Any] = {"operation": None, "lease_owner": None, "lease_expires_at": None}
# The `operation` of a recorded up that no process runs yet: any replica's pickup loop claims it
# (#6). The process that queued it holds its lease meanwhile, so a sweep can tell when that
# process is gone and cancel the up (#10).
QUEUED = "queued"


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")  # e.g. "pid:[4026531836]"
    except OSError:
        return ""


def make_owner() -> str:
    """`host|pid namespace|pid|nonce`: enough to tell, on the same machine, that it died."""
    return f"{socket.gethostname()[:60]}|{_pid_namespace()}|{os.getpid()}|{secrets.token_hex(4)}"


def owner_is_dead(owner: str) -> bool:
    """True only when certain: the owner ran on this host in this pid namespace and its process
    is gone. Anything else (another host, another container, no /proc) waits for the expiry."""
    parts = owner.split("|")
    if len(parts) != 4:
        return False
    host, namespace, pid, _ = parts
    if host != socket.gethostname()[:60] or not namespace or namespace != _pid_namespace():
        return False
    try:
        number = int(pid)
    except ValueError:
        return False
    return number != os.getpid() and not pid_alive(number)


class Leases:
    """This process's leases (one owner id per `Provisioner`) and their heartbeat."""

    def __init__(self, ledger: Ledger, *, seconds: float, clock: Clock):
        self.ledger = ledger
        self.seconds = seconds
        self.clock = clock
        self.owner = make_owner()
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- the columns -------------------------------------------------------------------------

    def fields(self, operation: str) -> dict[str, Any]:
        """Column values that give this process the lease for `operation`."""
        return {
            "operation": operation,
            "lease_owner": self.owner,
            "lease_expires_at": self.clock() + timedelta(seconds=self.seconds),
        }

    def free(self) -> list[sa.ColumnElement[bool]]:
        """WHERE clause: nobody holds a valid lease on the row."""
        return [
            sa.or_(
                col(Instance.lease_owner).is_(None),
                col(Instance.lease_expires_at) < self.clock(),
            )
        ]

    def maybe_stale(self) -> sa.ColumnElement[bool]:
        """SQL for rows `is_stale` may call stale: unowned, expired, or owned by a process on this
        host (whose pid `is_stale` then checks). Lets a query skip what live peers hold."""
        local = self.owner.rsplit("|", 2)[0] + "|"  # host|pid namespace|
        return (
            col(Instance.lease_owner).is_(None)
            | col(Instance.lease_expires_at).is_(None)
            | (col(Instance.lease_expires_at) < self.clock())
            | (
                col(Instance.lease_owner).startswith(local, autoescape=True)
                & (col(Instance.lease_owner) != self.owner)
            )
        )

    def is_stale(self, instance: Instance) -> bool:
        """The instance's lease belongs to a process that stopped (expired, or its pid is gone)."""
        if instance.lease_owner is None:
            return False
        if instance.lease_expires_at is None or instance.lease_expires_at < self.clock():
            return True
        return instance.lease_owner != self.owner and owner_is_dead(instance.lease_owner)

    # -- taking a lease without a state change ------------------------------------------------

    def claim(
        self,
        instance: Instance,
        *,
        operation: str,
        event_type: str,
        detail: str,
        stale_owner: bool = False,
        queued: bool = False,
    ) -> Instance | None:
        """Take the lease if it is still as the caller saw it: free, or (`stale_owner`) held by
        the same stale owner with the same expiry, or (`queued`) still a queued up, whoever
        queued it. Records an event in the same transaction.
        Returns the updated row, or None when another process got there first."""
        now = self.clock()
        conditions: list[sa.ColumnElement[bool]] = [
            col(Instance.id) == instance.id,
            col(Instance.status) == instance.status,
        ]
        if queued:
            conditions.append(col(Instance.operation) == QUEUED)
        elif stale_owner:
            conditions.append(col(Instance.lease_owner) == instance.lease_owner)
            expiry = col(Instance.lease_expires_at)
            conditions.append(
                expiry.is_(None)
                if instance.lease_expires_at is None
                else expiry == instance.lease_expires_at
            )
        else:
            conditions.extend(self.free())
        with Session(self.ledger.engine, expire_on_commit=False) as session:
            if self.ledger.engine.dialect.name == "postgresql":
                locked = session.execute(
                    sa.select(col(Instance.id)).where(*conditions).with_for_update(skip_locked=True)
                ).first()
                if locked is None:
                    return None
            result = session.execute(
                sa.update(Instance).where(*conditions).values(**self.fields(operation))
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                return None
            session.add(
                InstanceEvent(
                    instance_id=instance.id,
                    type=event_type,
                    status=instance.status,
                    at=now,
                    detail=detail,
                )
            )
            session.commit()
        self.hold(instance.id)
        return self.ledger.require(instance.id)

    def adopt(self, instance: Instance, operation: str) -> bool:
        """Continue an operation this process started (or one whose holder is gone)."""
        if instance.lease_owner == self.owner:
            self.hold(instance.id)
            return True
        with Session(self.ledger.engine) as session:
            result = session.execute(
                sa.update(Instance)
                .where(col(Instance.id) == instance.id)
                .where(col(Instance.status) == instance.status)
                .where(*self.free())
                .values(**self.fields(operation))
            )
            session.commit()
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
        self.hold(instance.id)
        return True

    # -- the heartbeat ------------------------------------------------------------------------

    def hold(self, instance_id: str) -> None:
        """Keep renewing this instance's lease until `drop`."""
        with self._lock:
            self._held.add(instance_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat, name="provisioner-lease-heartbeat", daemon=True
                )
                self._thread.start()

    def drop(self, instance_id: str) -> None:
        with self._lock:
            self._held.discard(instance_id)

    @contextmanager
    def holding(self, instance_id: str) -> Iterator[None]:
        self.hold(instance_id)
        try:
            yield
        finally:
            self.drop(instance_id)

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def renew(self) -> int:
        """Push the expiry of every lease this process holds; returns how many rows it kept."""
        ids = self.held()
        if not ids:
            return 0
        with Session(self.ledger.engine) as session:
            result = session.execute(
                sa.update(Instance)
                .where(col(Instance.id).in_(ids))
                .where(col(Instance.lease_owner) == self.owner)
                .values(lease_expires_at=self.clock() + timedelta(seconds=self.seconds))
            )
            mine = set(
                session.execute(
                    sa.select(col(Instance.id))
                    .where(col(Instance.id).in_(ids))
                    .where(col(Instance.lease_owner) == self.owner)
                ).scalars()
            )
            session.commit()
        with self._lock:  # a queued up another replica claimed is no longer ours to renew
            self._held -= ids - mine
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _beat(self) -> None:
        stop = threading.Event()
        while True:
            stop.wait(self.seconds / 3)
            with self._lock:
                if not self._held:
                    self._thread = None
                    return
            try:
                self.renew()
            except Exception:  # a missed beat is survivable; the next one may succeed
                log.warning("lease heartbeat failed", exc_info=True)
