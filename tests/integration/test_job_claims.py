"""Assignment (#22, ledger/jobs.py claim_next) on SQLite and PostgreSQL: one QUEUED job and one
IDLE instance claimed together, in queue order, each job once even with claims racing."""

from __future__ import annotations

import threading
from datetime import timedelta

from factories import make_request

from provisioner.ledger import jobs as job_rows
from provisioner.ledger import pools as pool_rows
from provisioner.ledger.models import Instance
from provisioner.ledger.pool_models import Job
from provisioner.ops.pools_service import create_pool, submit
from provisioner.rules.scaling import PoolState


def idle_instance(service, pool, n: int, *, user: str | None = None) -> Instance:
    now = service.clock()
    instance = Instance(
        id=f"inst-claim{n:04d}",
        user_id="owner",
        provider="AWS",
        instance_type="g4dn.xlarge",
        region="us-east-1",
        status="READY",
        disk_size_gb=50,
        auto_terminate_minutes=60,
        cost_per_hour=1,
        engine="simulated",
        stack_name=f"inst-claim{n:04d}",
        created_at=now,
        expires_at=now + timedelta(hours=1),
        hard_deadline=now + timedelta(hours=4),
        updated_at=now,
    )
    service.ledger.add(instance, event_type="instance:ready")
    return pool_rows.move_member(
        service.ledger,
        instance.id,
        expected=[None],
        target=PoolState.IDLE.value,
        at=now,
        segment="idle",
        pool_id=pool.id,
        pool_user=user,
        idle_since=now,
    )


def claim(service, pool):
    now = service.clock()
    return job_rows.claim_next(
        service.ledger, pool, at=now, owner="t", lease_until=now + timedelta(minutes=2)
    )


def test_queue_order_priority_then_fewest_running_user_then_oldest(service, clock):
    pool = create_pool(service, "p", make_request(), minimum=0, maximum=9, reuse="pool")
    for n in range(4):
        idle_instance(service, pool, n)
    old = submit(service, "p", ["true"], user_id="alice")
    clock.advance(seconds=1)
    alice2 = submit(service, "p", ["true"], user_id="alice")
    clock.advance(seconds=1)
    bob = submit(service, "p", ["true"], user_id="bob")
    clock.advance(seconds=1)
    urgent = submit(service, "p", ["true"], user_id="carol", priority=5)
    order = [claim(service, pool)[0].id for _ in range(4)]  # type: ignore[index]
    # carol's priority first; then alice's oldest; then bob (alice now has one running).
    assert order == [urgent.id, old.id, bob.id, alice2.id]
    assert claim(service, pool) is None


def test_a_job_no_vm_may_take_never_blocks_the_ones_behind_it(service, clock):
    pool = create_pool(service, "u", make_request(), minimum=0, maximum=9, reuse="user")
    idle_instance(service, pool, 1, user="alice")
    bob = submit(service, "u", ["true"], user_id="bob", priority=9)
    clock.advance(seconds=1)
    alice = submit(service, "u", ["true"], user_id="alice")
    job, instance = claim(service, pool)  # type: ignore[misc]
    assert job.id == alice.id and instance.pool_user == "alice"
    assert job_rows.get_job(service.ledger, bob.id).status == "QUEUED"


def test_racing_claims_take_each_job_and_each_vm_once(service, clock):
    pool = create_pool(service, "r", make_request(), minimum=0, maximum=40, reuse="pool")
    for n in range(12):
        idle_instance(service, pool, n)
    for n in range(20):
        submit(service, "r", ["true"], user_id=f"user{n % 3}")
    won: list[tuple[Job, Instance]] = []
    lock = threading.Lock()

    def worker() -> None:
        while (got := claim(service, pool)) is not None:
            with lock:
                won.append(got)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 12
    assert len({j.id for j, _ in won}) == 12 and len({i.id for _, i in won}) == 12
    for job, _ in won:
        events = [e.type for e in job_rows.job_events(service.ledger, job.id)]
        assert events == ["job:queued", "job:starting"]


def test_submit_is_refused_before_queueing_when_max_runtime_would_break_the_budget(service):
    from provisioner.rules.errors import BudgetExceededError

    create_pool(service, "b", make_request(), minimum=0, maximum=1)
    service.set_budget("alice", daily_usd="1.00")
    try:
        submit(service, "b", ["true"], user_id="alice", max_runtime=600)
    except BudgetExceededError as exc:
        assert "--max-runtime 600 min" in exc.message
    else:
        raise AssertionError("the submit was not refused")
    assert job_rows.list_jobs(service.ledger) == []
    assert submit(service, "b", ["true"], user_id="alice", max_runtime=10).status == "QUEUED"
