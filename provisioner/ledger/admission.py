"""Admitting a new instance: budget check, Idempotency-Key claim and the insert as one atomic step.

Two requests at the same instant (in one process or in two replicas) must not both pass a budget
that admits one more, nor both create an instance for one Idempotency-Key. So the check and the
record happen in one transaction that is serialised per user: on PostgreSQL under a transaction
advisory lock on the user (released at commit), on SQLite under `BEGIN IMMEDIATE` (the database's
write lock, taken before the check reads anything). The key is claimed in that transaction too
(primary key (user, key)): a second request with the key finds the winner's row and replays it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import IdempotencyKey, Instance, InstanceEvent

# The key space of pg_advisory_xact_lock(int, int) this module uses (the other half: the user).
ADMISSION_LOCK = 730115010


class KeyTakenError(Exception):
    """The Idempotency-Key already made an instance (within its window): replay that one."""

    def __init__(self, instance_id: str):
        super().__init__(instance_id)
        self.instance_id = instance_id


def serialise_user(session: Session, user_id: str) -> None:
    """Make the session's transaction the only admitting one for `user_id` until it ends."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:space, hashtext(:user))"),
            {"space": ADMISSION_LOCK, "user": user_id},
        )
    elif connection.dialect.name == "sqlite":
        # pysqlite begins transactions lazily (at the first write); take the write lock now.
        dbapi: Any = connection.connection.dbapi_connection
        if not dbapi.in_transaction:
            dbapi.execute("BEGIN IMMEDIATE")


def check_key(session: Session, user_id: str, key: str, *, oldest: datetime) -> None:
    """Forget an expired claim of `key`; KeyTakenError if it is still held."""
    session.execute(
        sa.delete(IdempotencyKey)
        .where(col(IdempotencyKey.user_id) == user_id)
        .where(col(IdempotencyKey.key) == key)
        .where(col(IdempotencyKey.created_at) < oldest)
    )
    held = session.execute(
        sa.select(col(IdempotencyKey.instance_id))
        .where(col(IdempotencyKey.user_id) == user_id)
        .where(col(IdempotencyKey.key) == key)
    ).scalar()
    if held is not None:
        raise KeyTakenError(held)


def admit(
    ledger: Ledger,
    instance: Instance,
    *,
    event_type: str,
    detail: str | None,
    check: Callable[[], None],
    key: str | None = None,
    key_oldest: datetime | None = None,
) -> Instance:
    """Run `check` (which raises to refuse) and insert the instance, its first event and its
    Idempotency-Key claim, all while no other admission for this user can run."""
    try:
        with Session(ledger.engine, expire_on_commit=False) as session:
            serialise_user(session, instance.user_id)
            if key is not None:
                # Before the budget check: a replay must not be refused for the spend it made.
                check_key(session, instance.user_id, key, oldest=key_oldest or instance.created_at)
            check()
            session.add(instance)
            session.flush()
            if key is not None:
                session.add(
                    IdempotencyKey(
                        user_id=instance.user_id,
                        key=key,
                        instance_id=instance.id,
                        created_at=instance.created_at,
                    )
                )
            session.add(
                InstanceEvent(
                    instance_id=instance.id,
                    type=event_type,
                    status=instance.status,
                    at=instance.created_at,
                    detail=detail,
                )
            )
            session.commit()
            return instance
    except sa.exc.IntegrityError:
        if key is None:
            raise
        # Another transaction claimed the key between our look and our insert (only possible
        # without the serialisation, e.g. an expired claim purged concurrently): replay it.
        with Session(ledger.engine) as session:
            held = session.execute(
                sa.select(col(IdempotencyKey.instance_id))
                .where(col(IdempotencyKey.user_id) == instance.user_id)
                .where(col(IdempotencyKey.key) == key)
            ).scalar()
        if held is None:
            raise
        raise KeyTakenError(held) from None


def purge_keys(ledger: Ledger, *, older_than: datetime) -> int:
    """Forget Idempotency-Keys claimed before `older_than` (the sweep's; index on created_at)."""
    with Session(ledger.engine) as session:
        result = session.execute(
            sa.delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < older_than)
        )
        session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]
