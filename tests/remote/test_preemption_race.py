"""Real reapers racing on preemptions of recovering spot VMs (#26, point 3): four `Reaper`s sweep
the same ledger side by side while the simulated cloud takes the spot VMs back again and again
(PROVISIONER_SIM_PREEMPT_AFTER) and `--recover` relaunches them on the next candidate (a new
stack `<id>-aN`, a new VM folder). After `down` nothing is left: no sshd, no process of a VM, no
VM folder, no stack holding resources. And the failover and recover cases keep a working `exec`
after a sweep (the folder and the stack share one key, the stack name)."""

from __future__ import annotations

import os
import threading
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from factories import make_request
from remote.conftest import LOCAL, needs_sshd, sshd_processes

from provisioner.config import Settings
from provisioner.engine.simulated import sshd as sim_sshd
from provisioner.ops.reaper import Reaper
from provisioner.ops.service import Provisioner
from provisioner.rules.lifecycle import Status

PREEMPTIONS = int(os.environ.get("PROVISIONER_TEST_PREEMPTIONS", "50"))
REAPERS = 4
LIVE = 4  # recovering spot instances kept alive while the reapers race
ENDED = {Status.TERMINATED, Status.FAILED}


def all_sandbox_pids(home: Path) -> list[int]:
    """Processes of any simulated VM (they carry their sandbox in PROVISIONER_SANDBOX), folders
    that are already gone included."""
    marker = b"PROVISIONER_SANDBOX=" + str(sim_sshd.vms_root(home)).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def sweeping(service: Provisioner, done: threading.Event, counts: list[int], errors: list[str]):
    reaper = Reaper(service)
    while not done.is_set():
        try:
            result = reaper.sweep()
        except Exception:  # a crash of a sweep is a finding, not a reason to hang
            errors.append(traceback.format_exc())
            return
        counts.append(result.preempted)
        errors.extend(
            f"{a.kind} {a.target}: {a.detail}" for a in result.actions if a.outcome == "failed"
        )
        done.wait(0.05)  # a reaper sweeps on an interval (a short one here)


@needs_sshd
def test_four_racing_reapers_over_many_preemptions_leave_no_process_and_no_stack(home: Path):
    settings = Settings(home=home, engine="simulated", sim_delay=0, sim_preempt_after=0.5)
    service = Provisioner(settings)
    # Each reaper is a replica of its own: its own service and ledger connections.
    reapers = [Provisioner(settings) for _ in range(REAPERS)]
    done = threading.Event()
    counts: list[int] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=sweeping, args=(r, done, counts, errors), daemon=True)
        for r in reapers
    ]
    ids: list[str] = []
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 600
    try:
        while sum(counts) < PREEMPTIONS and time.monotonic() < deadline and not errors:
            live = [i for i in ids if service.ledger.require(i).status not in ENDED]
            for _ in range(LIVE - len(live)):  # a VM out of candidates ends; start another
                request = make_request(spot=True, recover=True, allowed_ssh_cidrs=(LOCAL,))
                ids.append(service.provision(request).id)
            print(f"preemptions so far: {sum(counts)}, instances: {len(ids)}", flush=True)
            time.sleep(0.5)
    finally:
        done.set()
        for thread in threads:
            thread.join(120)
    assert errors == []
    assert sum(counts) >= PREEMPTIONS, f"only {sum(counts)} preemptions in 600 s"
    assert not any(t.is_alive() for t in threads)

    for instance_id in ids:
        if service.ledger.require(instance_id).status not in ENDED:
            service.terminate(instance_id)

    assert {service.ledger.require(i).status for i in ids} <= ENDED
    engine = service.engine_for("simulated")
    assert [s.name for s in engine.list_stacks() if s.resource_count] == []
    assert sshd_processes(home) == []
    assert all_sandbox_pids(home) == []
    assert sim_sshd.existing(home) == []
    for provisioner in (service, *reapers):
        provisioner.ledger.dispose()


@needs_sshd
def test_exec_works_after_a_sweep_on_a_failed_over_and_on_a_recovered_vm(home: Path):
    # The first zone has no capacity: the VM lands on the second candidate, stack `<id>-a2`.
    settings = Settings(
        home=home,
        engine="simulated",
        sim_delay=0,
        sim_capacity="aws/us-east-1/us-east-1a/g4dn.xlarge/spot=none",
    )
    service = Provisioner(settings)
    failed_over = service.provision(make_request(spot=True, allowed_ssh_cidrs=(LOCAL,)))
    assert service.ledger.require(failed_over.id).stack_name == f"{failed_over.id}-a2"

    Reaper(service).sweep()

    assert service.get(failed_over.id).status == "READY"
    assert service.run_command(failed_over.id, "test -d /proc && echo ok") == 0
    service.terminate(failed_over.id)
    service.ledger.dispose()

    # A spot VM taken back by the cloud and relaunched by `--recover` (a new stack). The clock
    # jumps past the preemption time; the relaunched VM's own comes 30 s (real) later.
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        preempting = Provisioner(
            Settings(home=home, engine="simulated", sim_delay=0, sim_preempt_after=30)
        )
        recovered = preempting.provision(
            make_request(spot=True, recover=True, allowed_ssh_cidrs=(LOCAL,))
        )
        first_stack = preempting.ledger.require(recovered.id).stack_name
        traveller.shift(timedelta(seconds=60))
        assert Reaper(preempting).sweep().preempted == 1
        row = preempting.ledger.require(recovered.id)
        assert row.status == "READY" and row.stack_name != first_stack

        sweep = Reaper(preempting).sweep()

        assert [a for a in sweep.actions if a.outcome == "failed"] == []
        assert sweep.preempted == 0
        assert preempting.run_command(recovered.id, "echo ok") == 0
        preempting.terminate(recovered.id)
    assert sshd_processes(home) == []
    preempting.ledger.dispose()
