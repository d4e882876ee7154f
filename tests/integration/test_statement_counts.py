"""How many SQL statements and transactions the ledger spends per operation (#16), on SQLite and
PostgreSQL, counted with SQLAlchemy's event hooks. Each transition is one short transaction with
its event and no re-read of a row the process holds. The numbers are pinned so a regression shows;
docs/performance.md explains each one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from factories import make_request
from sqlmodel import col

from provisioner.ledger.models import Instance
from provisioner.ops.reaper import Reaper


class Counter:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.commits = 0

    def verbs(self) -> list[str]:
        return [s.split(None, 1)[0].upper() for s in self.statements]


@contextmanager
def counting(engine: sa.Engine) -> Iterator[Counter]:
    counter = Counter()

    def renewal(statement: str) -> bool:  # the lease heartbeat's, on its own timer
        return statement.startswith("UPDATE instances SET lease_expires_at=")

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        if renewal(statement):
            conn.info["renewal"] = True
        else:
            counter.statements.append(statement)

    def on_commit(conn):
        if not conn.info.pop("renewal", False):
            counter.commits += 1

    sa.event.listen(engine, "before_cursor_execute", on_execute)
    sa.event.listen(engine, "commit", on_commit)
    try:
        yield counter
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_execute)
        sa.event.remove(engine, "commit", on_commit)


def test_an_up_is_short_transactions_without_re_reads(service):
    with counting(service.ledger.engine) as counter:
        instance = service.provision(make_request())
    assert instance.status == "READY"
    # The budget check reads the user's budget (none here); the INSERT of the row and its event;
    # a note (#11); the attempts so far and the first attempt's row (#12; the instance row already
    # names that candidate, so it is not written again); CONFIGURING (UPDATE ... RETURNING +
    # event); the attempt landed (#12); the stack's outputs (UPDATE ... RETURNING); the SSH
    # readiness wait notes the outcome from the row it is handed (#11); READY (UPDATE ...
    # RETURNING + event); the attempts, for the answer's `attempts` (#12). Each move is its own
    # transaction with its event.
    # Admission is serialised per user: on PostgreSQL by an advisory lock (one SELECT first).
    lock = ["SELECT"] if service.ledger.engine.dialect.name == "postgresql" else []
    assert counter.verbs() == [
        *lock,
        "SELECT",
        "INSERT",
        "INSERT",
        "INSERT",
        "SELECT",
        "INSERT",
        "UPDATE",
        "INSERT",
        "UPDATE",
        "UPDATE",
        "INSERT",
        "UPDATE",
        "INSERT",
        "SELECT",
    ]
    assert counter.commits == 8
    statuses = [e.status for e in service.events(instance.id) if e.type != "instance:warning"]
    assert "CONFIGURING" in statuses and statuses[-1] == "READY"


def test_a_down_is_two_transitions_and_the_rollup(service):
    instance = service.provision(make_request())
    with counting(service.ledger.engine) as counter:
        ended = service.terminate(instance.id)
    assert ended.status == "TERMINATED"
    # Read the row (the command names it by id), claim it (STOPPING + event), then TERMINATED +
    # event + its day's and its hour's rollups (#21), in one transaction; then the attempts for
    # the answer (#12). On PostgreSQL the claim locks first (SELECT ... FOR UPDATE SKIP LOCKED).
    claim = ["SELECT"] if service.ledger.engine.dialect.name == "postgresql" else []
    assert counter.verbs() == [
        "SELECT",
        *claim,
        "UPDATE",
        "INSERT",
        "UPDATE",
        "INSERT",
        "INSERT",
        "INSERT",
        "SELECT",
    ]
    assert counter.commits == 2
    assert service.statistics().total_provisioned == 1


def test_a_sweep_claim_is_one_transaction(service, clock):
    instance = service.provision(make_request())
    clock.advance(minutes=31)
    row = service.ledger.require(instance.id)
    with counting(service.ledger.engine) as counter:
        claimed = service.claim_destroy(
            row, reason="ttl", where=[col(Instance.expires_at) <= clock()]
        )
    assert claimed.status == "STOPPING" and claimed.lease_owner == service.leases.owner
    service.leases.drop(claimed.id)
    claim = ["SELECT"] if service.ledger.engine.dialect.name == "postgresql" else []
    assert counter.verbs() == [*claim, "UPDATE", "INSERT"]
    assert counter.commits == 1


def test_a_sweep_that_reaps_one(service, clock):
    instance = service.provision(make_request())
    clock.advance(minutes=31)
    with counting(service.ledger.engine) as counter:
        result = Reaper(service).sweep()
    assert result.expired == 1
    assert service.get(instance.id).status == "TERMINATED"
    # Pinned so that a regression shows: the expired rows' query, the claim (UPDATE + event; on
    # PostgreSQL after SELECT ... FOR UPDATE SKIP LOCKED), TERMINATED (UPDATE + event + the day's
    # and the hour's rollups, #21),
    # the recoverable and retryable rows' queries, the idle step's rows and engines, the engines in
    # use (orphans), the spot instances the cloud may have taken (#12), the daily gc's ended
    # instances (#13; the first sweep of a process runs it), the purge of day-old
    # idempotency keys (its own commit), and the reaper's heartbeat (its own commit: an UPDATE;
    # a reaper's first also INSERTs its row and drops rows silent for a day), and the pools'
    # step reading the pools (#22; none here).
    assert counter.commits == 4
    assert len(counter.statements) == SWEEP_STATEMENTS[service.ledger.engine.dialect.name]


SWEEP_STATEMENTS = {"sqlite": 19, "postgresql": 20}
