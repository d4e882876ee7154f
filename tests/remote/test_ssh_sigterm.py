"""#27: SIGTERM to `provisioner ssh ID -- -N` (a tunnel under a supervisor) stops its ssh child
too; it used to be left running, orphaned."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from factories import make_request
from remote.conftest import LOCAL, cli, needs_sshd

pytestmark = needs_sshd
SAFETY = 60  # seconds: only so a broken build fails instead of hanging; never asserted on


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def test_sigterm_to_provisioner_ssh_stops_its_ssh_child(service):
    instance = service.provision(make_request(allowed_ssh_cidrs=(LOCAL,)))
    try:
        process = cli(
            "ssh",
            instance.id,
            "--",
            "-N",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        give_up = time.monotonic() + SAFETY
        while not (kids := children(process.pid)):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < give_up
            time.sleep(0.1)
        time.sleep(1)  # connected (or connecting): the tunnel is up as far as it can be
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=SAFETY)
        give_up = time.monotonic() + 10
        while any(alive(k) for k in kids) and time.monotonic() < give_up:
            time.sleep(0.1)
        assert not any(alive(k) for k in kids)
    finally:
        for pid in kids if "kids" in locals() else []:
            if alive(pid):  # the bug: never leave it running after the test
                os.kill(pid, signal.SIGKILL)
        service.terminate(instance.id)
