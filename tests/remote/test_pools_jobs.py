"""Pools and jobs end to end (#22) on the simulated engine: real sshd per VM, real detached jobs,
real scrub; only the VM's operating system is simulated. The clock is a FakeClock advanced by
hand between sweeps (timestamps, idle timeouts, max runtime); the jobs themselves really run."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from factories import make_request
from remote.conftest import LOCAL, needs_sshd
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.ledger import jobs as job_rows
from provisioner.ledger import pools as pool_rows
from provisioner.ops.job_costs import pool_cost
from provisioner.ops.pools_service import cancel, create_pool, pack_workdir, submit
from provisioner.ops.scheduler import Scheduler, job_log_path
from provisioner.rules.jobs import JOB_FINAL, JobStatus

pytestmark = needs_sshd
runner = CliRunner()


def pool_request(**overrides: object):
    return make_request(allowed_ssh_cidrs=(LOCAL,), auto_terminate_minutes=120, **overrides)


def drive(service, clock, scheduler, pool, *, until, sweeps=40, sizes=None):
    for _ in range(sweeps):
        scheduler.sweep()
        if sizes is not None:
            sizes.append(len(pool_rows.members(service.ledger, pool.id)))
        if until():
            return
        time.sleep(0.3)
        clock.advance(seconds=20)
    raise AssertionError("the jobs did not finish")


def all_final(service, pool):
    jobs = job_rows.list_jobs(service.ledger, pool_id=pool.id)
    return all(JobStatus(j.status) in JOB_FINAL for j in jobs)


def test_a_warm_pool_runs_six_jobs_never_above_max_first_on_the_warm_vm(
    service, clock, home, tmp_path: Path
):
    pool = create_pool(service, "t4", pool_request(), minimum=1, maximum=3)
    scheduler = Scheduler(service)
    scheduler.sweep()
    warm = pool_rows.members(service.ledger, pool.id)
    assert [(m.status, m.pool_state) for m in warm] == [("READY", "IDLE")]
    work = tmp_path / "job"
    work.mkdir()
    (work / "task.py").write_text("import os, sys\nprint('task output', sys.argv[1:])\n")
    data = pack_workdir(work, service.settings.max_workdir_bytes)
    jobs = []
    for i in range(6):
        jobs.append(
            submit(service, "t4", ["python3", "task.py", str(i)], user_id="alice", workdir=data)
        )
        clock.advance(seconds=1)
    sizes: list[int] = []
    drive(service, clock, scheduler, pool, until=lambda: all_final(service, pool), sizes=sizes)
    done = [job_rows.get_job(service.ledger, j.id) for j in jobs]
    assert [j.status for j in done] == ["SUCCEEDED"] * 6
    for i, j in enumerate(done):
        assert f"task output ['{i}']" in job_log_path(home, j.id).read_text()
        types = [e.type for e in job_rows.job_events(service.ledger, j.id)]
        assert types.count("job:started") == 1 and types[0] == "job:queued"
    assert max(sizes) <= 3
    assert done[0].instance_id == warm[0].id  # the first job ran on the warm VM
    # The scrub ran for real and says which steps are simulated here.
    scrubs = [e for e in service.events(warm[0].id) if e.type == "pool:scrubbed"]
    assert scrubs and "ok kill-job-processes" in (scrubs[0].detail or "")
    assert "simulated wipe/tmp" in (scrubs[0].detail or "")
    assert "ok wipe-workdir" in (scrubs[0].detail or "")
    # Cost: jobs + overhead = the instances' cost, to the micro-dollar.
    cost = pool_cost(service, pool)
    assert set(cost.jobs) == {j.id for j in done}
    assert sum(cost.jobs.values(), Decimal(0)) + cost.overhead == cost.instances
    assert cost.instances > 0


def test_min_zero_scales_to_zero_and_a_job_brings_one_back(service, clock):
    pool = create_pool(service, "z", pool_request(), minimum=0, maximum=2, idle_minutes=10)
    scheduler = Scheduler(service)
    scheduler.sweep()
    assert pool_rows.members(service.ledger, pool.id) == []
    job = submit(service, "z", ["echo hi"], user_id="alice")
    drive(service, clock, scheduler, pool, until=lambda: all_final(service, pool))
    assert job_rows.get_job(service.ledger, job.id).status == "SUCCEEDED"
    assert len(pool_rows.members(service.ledger, pool.id)) == 1
    clock.advance(minutes=11)
    scheduler.sweep()
    assert pool_rows.members(service.ledger, pool.id) == []  # back to zero
    cost = pool_cost(service, pool)
    assert sum(cost.jobs.values(), Decimal(0)) + cost.overhead == cost.instances


@pytest.mark.parametrize("reuse", ["user", "pool"])
def test_user_b_never_lands_on_a_vm_that_served_user_a_unless_reuse_pool(service, clock, reuse):
    pool = create_pool(service, "r", pool_request(), minimum=1, maximum=2, reuse=reuse)
    scheduler = Scheduler(service)
    scheduler.sweep()
    first = submit(service, "r", ["echo a"], user_id="alice")

    def scrubbed() -> bool:  # alice's VM back to IDLE (a SCRUBBING VM is not yet supply)
        states = [m.pool_state for m in pool_rows.members(service.ledger, pool.id)]
        return all_final(service, pool) and states == ["IDLE"]

    drive(service, clock, scheduler, pool, until=scrubbed)
    second = submit(service, "r", ["echo b"], user_id="bob")
    drive(service, clock, scheduler, pool, until=lambda: all_final(service, pool))
    a = job_rows.get_job(service.ledger, first.id)
    b = job_rows.get_job(service.ledger, second.id)
    assert a.status == b.status == "SUCCEEDED"
    if reuse == "user":
        assert a.instance_id != b.instance_id
    else:
        assert a.instance_id == b.instance_id


def test_max_runtime_fails_the_job_and_cancel_stops_a_running_one(service, clock):
    pool = create_pool(service, "m", pool_request(), minimum=2, maximum=2, reuse="pool")
    scheduler = Scheduler(service)
    scheduler.sweep()
    slow = submit(service, "m", ["sleep 300"], user_id="alice", max_runtime=5)
    other = submit(service, "m", ["sleep 300"], user_id="alice")
    scheduler.sweep()
    assert job_rows.get_job(service.ledger, slow.id).status == "RUNNING"
    assert job_rows.get_job(service.ledger, other.id).status == "RUNNING"
    cancel(service, other.id)
    clock.advance(minutes=6)
    scheduler.sweep()
    slow_now = job_rows.get_job(service.ledger, slow.id)
    assert slow_now.status == "FAILED"
    assert slow_now.reason is not None and slow_now.reason.startswith("max-runtime")
    assert job_rows.get_job(service.ledger, other.id).status == "CANCELLED"
    states = {m.pool_state for m in pool_rows.members(service.ledger, pool.id)}
    assert states == {"IDLE"}  # both scrubbed clean and reused


def test_bad_input_is_one_line_exit_2(service, tmp_path: Path, monkeypatch):
    create_pool(service, "t4", pool_request(), minimum=0, maximum=1)
    unknown = runner.invoke(app, ["submit", "--pool", "nope", "--", "echo", "hi"])
    assert unknown.exit_code == 2 and "No pool named" in unknown.output
    missing = runner.invoke(app, ["submit", "--pool", "t4"])
    assert missing.exit_code == 2 and "Command is missing" in missing.output
    bad = runner.invoke(
        app,
        [
            "pool",
            "create",
            "x",
            "--provider",
            "aws",
            "--instance-type",
            "g4dn.xlarge",
            "--min",
            "3",
            "--max",
            "1",
            "--simulate",
        ],
    )
    assert bad.exit_code == 2 and "--min (3) must not be above --max (1)" in bad.output
    big = tmp_path / "big"
    big.mkdir()
    (big / "blob").write_bytes(b"0" * 2048)
    monkeypatch.setenv("PROVISIONER_MAX_WORKDIR_BYTES", "1024")
    huge = runner.invoke(app, ["submit", "--pool", "t4", "--workdir", str(big), "--", "ls"])
    assert huge.exit_code == 2 and "PROVISIONER_MAX_WORKDIR_BYTES" in huge.output
    assert len(huge.output.strip().splitlines()) == 1
    listed = runner.invoke(app, ["jobs", "--json"])
    assert listed.exit_code == 0 and listed.output.strip() == "[]"  # nothing half-created


def test_a_preempted_vms_job_is_requeued_and_its_vm_replaced(service, clock):
    pool = create_pool(service, "pre", pool_request(), minimum=1, maximum=1)
    scheduler = Scheduler(service)
    scheduler.sweep()
    job = submit(service, "pre", ["sleep 1; echo second try"], user_id="alice", retries=1)
    scheduler.sweep()
    first = job_rows.get_job(service.ledger, job.id)
    assert first.status == "RUNNING"
    service.terminate(str(first.instance_id), reason="preempted")  # the cloud took it
    drive(service, clock, scheduler, pool, until=lambda: all_final(service, pool))
    done = job_rows.get_job(service.ledger, job.id)
    assert done.status == "SUCCEEDED" and done.attempt == 2
    assert done.instance_id != first.instance_id
    types = [e.type for e in job_rows.job_events(service.ledger, job.id)]
    assert "job:requeued" in types and types.count("job:started") == 2


def test_a_vm_a_dead_sweep_left_scrubbing_is_destroyed_not_reused_and_replaced(service, clock):
    """Scrubs run only inside a sweep holding the pool's lock: a VM still SCRUBBING when the
    next sweep takes the lock was left by a sweep that died (a replica killed mid-scrub). Nobody
    can show it is clean, so it is destroyed, and --min brings a fresh one."""
    pool = create_pool(service, "o", pool_request(), minimum=1, maximum=2)
    scheduler = Scheduler(service)
    scheduler.sweep()
    [vm] = pool_rows.members(service.ledger, pool.id)
    assert vm.pool_state == "IDLE"
    # What the dead sweep did before it died: the VM moved to SCRUBBING, never back.
    pool_rows.move_member(
        service.ledger, vm.id, expected=["IDLE"], target="SCRUBBING", at=clock(), segment="scrub"
    )
    clock.advance(seconds=30)

    actions = Scheduler(service).sweep()  # another replica's sweep

    assert ("drain", vm.id, "done", "its scrub was interrupted") in actions
    assert service.get(vm.id).status == "TERMINATED"
    [fresh] = pool_rows.members(service.ledger, pool.id)
    assert fresh.id != vm.id and fresh.pool_state == "IDLE"
    cost = pool_cost(service, pool)
    assert sum(cost.jobs.values(), Decimal(0)) + cost.overhead == cost.instances


def test_cost_report_has_a_line_per_pool_jobs_plus_overhead_and_only_a_users_share(service, clock):
    pool = create_pool(
        service, "c", pool_request(user_id="alice"), minimum=1, maximum=1, reuse="pool"
    )
    scheduler = Scheduler(service)
    scheduler.sweep()
    clock.advance(minutes=5)  # five idle minutes: the owner's overhead
    job = submit(service, "c", ["echo costed"], user_id="bob")
    drive(service, clock, scheduler, pool, until=lambda: all_final(service, pool))
    assert job_rows.get_job(service.ledger, job.id).status == "SUCCEEDED"
    # Costs frozen (no sweep after: --min 1 would launch a VM the CLI's real clock then bills).
    service.terminate(pool_rows.members(service.ledger, pool.id)[0].id)

    everyone = runner.invoke(app, ["cost-report", "--json"])
    [line] = json.loads(everyone.output)["report"]["pools"]
    assert (line["pool"], line["owner"], line["jobs"]) == ("c", "alice", 1)
    assert line["jobsCost"] > 0 and line["overhead"] > 0
    assert round(line["jobsCost"] + line["overhead"], 6) == round(line["total"], 6)
    cost = pool_cost(service, pool)
    assert Decimal(str(line["total"])) == cost.instances
    bob = runner.invoke(app, ["cost-report", "--user", "bob", "--json"])
    [mine] = json.loads(bob.output)["report"]["pools"]
    assert (mine["jobs"], mine["jobsCost"]) == (1, line["jobsCost"])
    assert mine["overhead"] is None and mine["total"] is None  # alice's overhead, not bob's
    carol = runner.invoke(app, ["cost-report", "--user", "carol", "--json"])
    assert json.loads(carol.output)["report"]["pools"] == []
    table = runner.invoke(app, ["cost-report"])
    assert table.exit_code == 0 and "JOBS' COST" in table.output and "OVERHEAD" in table.output
