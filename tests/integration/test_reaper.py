"""The reaper over the real service: simulated engine, real SQLite, a fake clock."""

import json
import threading
from datetime import timedelta

import pytest
from factories import make_request

from provisioner.config import Settings
from provisioner.engine.simulated.engine import SimulatedEngine
from provisioner.ops.reaper import Reaper
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import (
    ConflictError,
    DestroyFailedError,
    ProvisioningFailedError,
    ValidationError,
)
from stacks.spec import InstanceSpec


def resources(settings: Settings, stack: str) -> list:
    path = settings.home / "simulated-stacks" / f"{stack}.json"
    return json.loads(path.read_text())["resources"] if path.exists() else []


def sweep(home, clock, **knobs):
    """One sweep by a fresh service (another process, as far as leases are concerned)."""
    service = Provisioner(Settings(home=home, engine="simulated", **knobs), clock=clock)
    try:
        return Reaper(service).sweep()
    finally:
        service.ledger.dispose()


# -- expiry and extend -----------------------------------------------------------------------


def test_an_instance_survives_its_ttl_and_not_a_minute_more(service, home, clock, settings):
    instance = service.provision(make_request(auto_terminate_minutes=5))
    clock.advance(minutes=3)
    assert sweep(home, clock).expired == 0
    assert service.get(instance.id).status == "READY"
    clock.advance(minutes=4)
    result = sweep(home, clock)
    assert (result.expired, result.failed) == (1, 0)
    done = service.get(instance.id)
    assert done.status == "TERMINATED" and done.terminated_at == clock.now
    assert resources(settings, instance.id) == []
    stopping = [e for e in service.events(instance.id) if e.status == "STOPPING"]
    assert [e.detail for e in stopping] == ["terminating (ttl)"]


def test_a_running_task_does_not_save_an_expired_instance(service, home, clock):
    instance = service.provision(make_request(auto_terminate_minutes=5))
    service.set_status(instance.id, "RUNNING")
    clock.advance(minutes=6)
    assert sweep(home, clock).expired == 1
    assert service.get(instance.id).status == "TERMINATED"


def test_extend_moves_the_expiry_and_the_sweep_respects_it(service, home, clock):
    instance = service.provision(make_request(auto_terminate_minutes=5))
    extended = service.extend(instance.id, 10)
    assert extended.expires_at == instance.expires_at + timedelta(minutes=10)
    clock.advance(minutes=7)
    assert sweep(home, clock).expired == 0
    assert service.get(instance.id).status == "READY"
    clock.advance(minutes=9)
    assert sweep(home, clock).expired == 1
    assert service.get(instance.id).status == "TERMINATED"
    assert any(e.type == "instance:extended" for e in service.events(instance.id))


def test_extend_never_passes_the_hard_deadline(service, clock):
    instance = service.provision(make_request(auto_terminate_minutes=120))
    capped = service.extend(instance.id, 120)
    assert capped.expires_at == capped.hard_deadline == clock.now + timedelta(minutes=240)
    with pytest.raises(ValidationError, match="hard deadline"):
        service.extend(instance.id, 5)
    with pytest.raises(ValidationError, match="between 1 and"):
        service.extend(instance.id, 0)


def test_an_expired_but_unswept_instance_is_extended_from_now(service, clock):
    instance = service.provision(make_request(auto_terminate_minutes=5))
    clock.advance(minutes=8)
    assert service.extend(instance.id, 10).expires_at == clock.now + timedelta(minutes=10)


def test_ended_instances_cannot_be_extended(service):
    instance = service.provision(make_request())
    service.terminate(instance.id)
    with pytest.raises(ConflictError, match="TERMINATED"):
        service.extend(instance.id, 10)


# -- failed destroys and their retries -------------------------------------------------------


def test_a_failed_destroy_is_retried_with_backoff_until_it_succeeds(home, clock, settings):
    faulty = Provisioner(Settings(home=home, engine="simulated", sim_fail_destroy=1), clock=clock)
    instance = faulty.provision(make_request())
    with pytest.raises(DestroyFailedError):
        faulty.terminate(instance.id)
    stuck = faulty.get(instance.id)
    assert stuck.status == "STOPPING" and stuck.terminated_at is None
    assert faulty.statistics().currently_running == 1
    assert [i.id for i in faulty.list(status="STOPPING")] == [instance.id]

    early = sweep(home, clock, sim_fail_destroy=1)
    assert (early.retried, early.waiting) == (0, 1), "backoff: not yet (30 s)"
    clock.advance(seconds=31)
    failed_again = sweep(home, clock, sim_fail_destroy=1)
    assert (failed_again.retried, failed_again.failed) == (1, 1)
    row = faulty.ledger.require(instance.id)
    assert row.destroy_attempts == 2 and row.lease_owner is None
    assert row.next_retry_at == clock.now + timedelta(seconds=60), "the wait doubles"
    clock.advance(minutes=10)
    assert faulty.get(instance.id).status == "STOPPING", "never TERMINATED before a destroy"

    healed = sweep(home, clock)
    assert (healed.retried, healed.failed) == (1, 0)
    done = faulty.get(instance.id)
    assert done.status == "TERMINATED" and done.error is None
    assert done.cost_breakdown.compute == pytest.approx(0.526 * (10 * 60 + 31) / 3600, abs=1e-5)
    assert done.total_cost == pytest.approx(
        done.cost_breakdown.compute + done.cost_breakdown.storage + done.cost_breakdown.public_ipv4
    )
    assert resources(settings, instance.id) == []


def test_a_failed_up_whose_cleanup_failed_is_cleaned_up_by_a_sweep(home, clock, settings):
    knobs = {"sim_fail_up": 1, "sim_fail_destroy": 1, "sim_fail_kind": "quota"}
    faulty = Provisioner(Settings(home=home, engine="simulated", **knobs), clock=clock)
    with pytest.raises(ProvisioningFailedError):
        faulty.provision(make_request())
    [failed] = faulty.list()
    assert failed.status == "FAILED" and failed.terminated_at is None
    assert failed.error_code == "VcpuLimitExceeded"
    assert resources(settings, failed.id), "what the up made is still there"
    clock.advance(minutes=1)
    result = sweep(home, clock)
    assert (result.retried, result.failed) == (1, 0)
    cleaned = faulty.get(failed.id)
    assert cleaned.status == "FAILED" and cleaned.terminated_at == clock.now
    assert cleaned.error_code == "VcpuLimitExceeded", "the cause stays on record"
    assert resources(settings, failed.id) == []


class FlakyDestroy(SimulatedEngine):
    """The simulated cloud, throttling the first `failures` destroys."""

    def __init__(self, settings: Settings, failures: int):
        super().__init__(settings)
        self.failures = failures
        self.destroys = 0

    def destroy(self, stack_name, *, message, on_event=None):
        self.destroys += 1
        if self.destroys <= self.failures:
            raise DestroyFailedError(
                "RequestLimitExceeded: Request limit exceeded.", kind="transient"
            )
        super().destroy(stack_name, message=message, on_event=on_event)


def test_transient_errors_are_retried_within_the_call(home, clock):
    settings = Settings(home=home, engine="simulated", transient_wait_seconds=0)
    engine = FlakyDestroy(settings, failures=2)
    service = Provisioner(settings, engine=engine, clock=clock)
    instance = service.provision(make_request())
    assert service.terminate(instance.id).status == "TERMINATED"
    assert engine.destroys == 3


def test_transient_errors_that_persist_leave_the_instance_stopping(home, clock):
    settings = Settings(home=home, engine="simulated", transient_wait_seconds=0)
    engine = FlakyDestroy(settings, failures=5)
    service = Provisioner(settings, engine=engine, clock=clock)
    instance = service.provision(make_request())
    with pytest.raises(DestroyFailedError) as err:
        service.terminate(instance.id)
    assert err.value.kind == "transient" and err.value.retryable
    assert engine.destroys == settings.transient_attempts
    assert service.get(instance.id).status == "STOPPING"


def test_capacity_errors_are_not_retried(home, clock):
    settings = Settings(home=home, engine="simulated", sim_fail_up=1, sim_fail_kind="capacity")
    calls = []

    class CountingEngine(SimulatedEngine):
        def up(self, spec, *, message, on_event=None):
            calls.append(spec.instance_id)
            return super().up(spec, message=message, on_event=on_event)

    service = Provisioner(settings, engine=CountingEngine(settings), clock=clock)
    with pytest.raises(ProvisioningFailedError) as err:
        service.provision(make_request(max_attempts=1))  # failover elsewhere: test_capacity.py
    assert err.value.kind == "capacity" and not err.value.retryable
    assert len(calls) == 1
    [failed] = service.list()
    assert failed.error_code == "InsufficientInstanceCapacity"
    assert "We currently do not have sufficient g4dn.xlarge capacity" in failed.error


# -- interrupted operations ------------------------------------------------------------------


def test_a_live_up_is_left_alone_and_a_dead_one_is_taken_over(home, clock, settings):
    crashed = Provisioner(settings, clock=clock)
    pending = crashed.begin_provision(make_request())
    # Half an up: the network exists, then the process "dies" (stops renewing its lease).
    SimulatedEngine(settings).up(crashed._spec(pending), message="partial")
    crashed.leases.drop(pending.id)

    assert sweep(home, clock).recovered == 0, "its lease is still valid"
    assert crashed.get(pending.id).status == "PROVISIONING"

    clock.advance(seconds=settings.lease_seconds + 1)
    result = sweep(home, clock)
    assert (result.recovered, result.failed) == (1, 0)
    failed = crashed.get(pending.id)
    assert failed.status == "FAILED" and failed.error_code == "INTERRUPTED"
    assert failed.error.startswith("interrupted:")
    assert failed.terminated_at == clock.now
    assert resources(settings, pending.id) == []
    assert sweep(home, clock).orphans == 0


def test_a_heartbeat_keeps_a_slow_operation_from_being_taken_over(home, clock, settings):
    slow = Provisioner(settings, clock=clock)
    pending = slow.begin_provision(make_request())
    clock.advance(seconds=settings.lease_seconds - 5)
    assert slow.leases.renew() == 1  # what the heartbeat thread does every third of the lease
    clock.advance(seconds=30)
    assert sweep(home, clock).recovered == 0
    assert slow.run_provision(pending.id).status == "READY"


def test_an_interrupted_destroy_is_completed(home, clock, settings):
    service = Provisioner(settings, clock=clock)
    instance = service.provision(make_request())
    claimed = service.claim_destroy(service.ledger.require(instance.id), reason="user")
    service.leases.drop(claimed.id)  # the destroying process dies here
    clock.advance(seconds=settings.lease_seconds + 1)
    result = sweep(home, clock)
    assert result.recovered == 1
    done = service.get(instance.id)
    assert done.status == "TERMINATED" and done.terminated_at == clock.now
    assert resources(settings, instance.id) == []


def test_a_user_cannot_destroy_what_another_process_is_destroying(home, clock, settings):
    service = Provisioner(settings, clock=clock)
    instance = service.provision(make_request())
    service.claim_destroy(service.ledger.require(instance.id), reason="user")
    other = Provisioner(settings, clock=clock)
    with pytest.raises(ConflictError, match="busy"):
        other.terminate(instance.id)


# -- claims under concurrency ----------------------------------------------------------------


def test_two_sweeps_at_once_stop_each_expired_instance_exactly_once(home, clock):
    settings = Settings(home=home, engine="simulated", sim_delay=0.05)
    service = Provisioner(Settings(home=home, engine="simulated"), clock=clock)
    ids = [service.provision(make_request(auto_terminate_minutes=5)).id for _ in range(6)]
    clock.advance(minutes=6)
    reapers = [Reaper(Provisioner(settings, clock=clock)) for _ in range(2)]
    start = threading.Barrier(2)
    results = []

    def run(reaper: Reaper) -> None:
        start.wait()
        results.append(reaper.sweep())

    threads = [threading.Thread(target=run, args=(r,)) for r in reapers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.expired for r in results) == 6
    failed = [a for r in results for a in r.to_json()["actions"] if a["outcome"] == "failed"]
    assert failed == []
    for instance_id in ids:
        events = service.events(instance_id)
        assert [e.status for e in events].count("STOPPING") == 1
        assert [e.status for e in events].count("TERMINATED") == 1


# -- orphans -----------------------------------------------------------------------------------


def orphan_spec(instance_id: str) -> InstanceSpec:
    return InstanceSpec(
        instance_id=instance_id,
        provider="AWS",
        instance_type="g4dn.xlarge",
        region="us-east-1",
        disk_gb=50,
        expires_at="2026-11-26T11:00:00Z",
        hard_deadline="2026-11-26T14:00:00Z",
        user_id="nobody",
    )


def set_stack(settings: Settings, name: str, **fields) -> None:
    """Edit a simulated stack's record (its tags, when it was last updated)."""
    path = settings.home / "simulated-stacks" / f"{name}.json"
    data = json.loads(path.read_text())
    data.update(fields)
    path.write_text(json.dumps(data))


def test_orphaned_stacks_are_reported_then_destroyed_after_the_grace_period(home, clock, settings):
    engine = SimulatedEngine(settings)
    engine.up(orphan_spec("inst-000000000001"), message="no ledger row")
    engine.up(orphan_spec("hand-made"), message="made by hand, not tagged by us")
    set_stack(settings, "hand-made", tags={"owner": "ops"})
    for name in ("inst-000000000001", "hand-made"):
        set_stack(settings, name, lastUpdate=(clock.now - timedelta(minutes=5)).isoformat())

    early = sweep(home, clock)
    assert early.orphans == 2 and early.orphans_destroyed == 0
    assert {a.detail.split("; ")[1] for a in early.actions} == {
        "inside the grace period",
        "not tagged by provisioner",
    }
    clock.advance(minutes=settings.orphan_grace_minutes)
    late = sweep(home, clock)
    assert (late.orphans, late.orphans_destroyed) == (1, 1)
    assert resources(settings, "inst-000000000001") == []
    assert resources(settings, "hand-made"), "untagged stacks are only reported"


def test_a_terminated_instance_whose_stack_still_holds_resources_is_an_orphan(
    service, home, clock, settings
):
    instance = service.provision(make_request())
    service.terminate(instance.id)
    # Someone re-ran the program by hand after the destroy.
    SimulatedEngine(settings).up(service._spec(service.ledger.require(instance.id)), message="x")
    set_stack(settings, instance.id, lastUpdate=clock.now.isoformat())
    clock.advance(minutes=settings.orphan_grace_minutes + 1)
    result = sweep(home, clock)
    assert (result.orphans, result.orphans_destroyed) == (0, 1)
    assert resources(settings, instance.id) == []
    assert any(e.type == "instance:orphan" for e in service.events(instance.id))
    assert service.get(instance.id).status == "TERMINATED"
