"""A simulated VM's processes end with its destroy, and nothing brings a destroyed VM back (#26,
point 3): a background process started by `exec` (in its own session, so not a child of sshd) is
gone after `down`; reapers racing to revive a VM whose sshd died, while it is destroyed, leave no
process and no stack holding resources."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from factories import make_request
from remote.conftest import LOCAL, needs_sshd, sshd_processes

from provisioner.config import Settings
from provisioner.engine.simulated import sshd as sim_sshd
from provisioner.ops.service import Provisioner

ROUNDS = int(os.environ.get("PROVISIONER_TEST_RACE_ROUNDS", "12"))
RACERS = 4


def processes_with(needle: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@needs_sshd
def test_a_background_process_started_by_exec_dies_with_down(service):
    instance = service.provision(make_request(allowed_ssh_cidrs=(LOCAL,)))
    code = service.run_command(
        instance.id, "setsid nohup sleep 3137 >/dev/null 2>&1 < /dev/null & echo started"
    )
    assert code == 0
    assert processes_with(b"sleep\x003137"), "the background sleep did not start"

    service.terminate(instance.id)

    assert processes_with(b"sleep\x003137") == []


def reaper(engine: Any, name: str, done: threading.Event) -> None:
    """What each sweep does to a live VM: look at it, and revive its endpoint if it died."""
    while True:
        engine.ssh_endpoint(name, revive=True)
        engine.liveness(name)
        if done.is_set():
            return


@needs_sshd
def test_racing_revives_never_resurrect_a_destroyed_vm(home: Path, clock):
    service = Provisioner(Settings(home=home, engine="simulated", sim_delay=0), clock=clock)
    leftovers = []
    for _ in range(ROUNDS):
        instance = service.provision(make_request(allowed_ssh_cidrs=(LOCAL,)))
        row = service.ledger.require(instance.id)
        engine = service.engine_for(row.engine)
        folder = sim_sshd.vms_root(home) / row.stack_name
        sim_sshd.stop_sshd_only(folder)  # the VM's endpoint died: every reaper wants it back
        done = threading.Event()
        racers = [
            threading.Thread(target=reaper, args=(engine, row.stack_name, done))
            for _ in range(RACERS)
        ]
        for racer in racers:
            racer.start()
        service.terminate(instance.id)
        done.set()
        for racer in racers:
            racer.join(60)
        stacks = [s for s in engine.list_stacks() if s.resource_count]
        leftovers.append((stacks, sim_sshd.sandbox_pids(folder), folder.exists()))

    assert leftovers == [([], [], False)] * ROUNDS
    assert sshd_processes(home) == []
