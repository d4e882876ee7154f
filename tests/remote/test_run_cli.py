"""`provisioner run` as a user runs it: a real process, the simulated engine, real SSH.

The "Done when" scenario of #11, Ctrl-C with --down, and SIGKILL (left to the TTL and the
reaper)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from factories import FakeClock
from remote.conftest import cli, needs_sshd, sshd_processes

from provisioner.config import Settings
from provisioner.engine.simulated import sshd as sim_sshd
from provisioner.engine.simulated.engine import SimulatedEngine
from provisioner.ops.reaper import Reaper
from provisioner.ops.service import Provisioner
from provisioner.remote import keys, runlog

pytestmark = needs_sshd
LINE = "epoch 1: loss 0.25"
SAFETY = 300  # seconds: only so a broken build fails instead of hanging; never asserted on


def make_job(root: Path, go: Path) -> Path:
    """./job with train.py: prints a line, waits until the test says go, exits 3."""
    job = root / "job"
    job.mkdir()
    (job / "train.py").write_text(
        "import os, sys, time\n"
        f"print({LINE!r}, flush=True)\n"
        f"while not os.path.exists({str(go)!r}):\n"
        "    time.sleep(0.05)\n"
        "sys.exit(3)\n"
    )
    return job


class Lines:
    """The process's stdout, line by line, read on a thread."""

    def __init__(self, process: subprocess.Popen[str]):
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stream = process.stdout

        def pump() -> None:
            for line in stream:
                self.queue.put(line.rstrip("\n"))
            self.queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, text: str) -> None:
        while True:
            line = self.queue.get(timeout=SAFETY)
            assert line is not None, f"output ended before {text!r}: {self.seen}"
            self.seen.append(line)
            if text in line:
                return


def start_run(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], Lines, Path]:
    go = tmp_path / "go"
    make_job(tmp_path, go)
    process = cli(
        "run",
        "--simulate",
        "--provider",
        "aws",
        "--instance-type",
        "g4dn.xlarge",
        "--workdir",
        "./job",
        *extra,
        "--",
        "python3",
        "train.py",
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return process, Lines(process), go


def only_instance(home: Path) -> tuple[Provisioner, str]:
    service = Provisioner(Settings(home=home, engine="simulated"))
    (instance,) = service.list()
    return service, instance.id


def test_run_down_prints_live_exits_with_the_code_and_leaves_nothing(tmp_path, home):
    process, lines, go = start_run(tmp_path, "--down")
    lines.wait_for(LINE)
    assert process.poll() is None  # the line arrived while train.py was still running
    go.touch()
    process.wait(timeout=SAFETY)
    assert process.returncode == 3
    assert process.stderr is not None and "the command exited 3" in process.stderr.read()

    service, instance_id = only_instance(home)
    instance = service.get(instance_id)
    assert instance.status == "TERMINATED" and instance.total_cost > 0
    types = [e.type for e in service.events(instance_id)]
    running = types.index("instance:running")
    assert types[running : running + 3] == [
        "instance:running",
        "instance:ready",
        "instance:stopping",
    ]
    assert types[-1] == "instance:terminated"
    (record,) = runlog.runs(home, instance_id)
    assert record["exitCode"] == 3 and record["kind"] == "run"
    assert {s.resource_count for s in SimulatedEngine(service.settings).list_stacks()} == {0}
    assert not sshd_processes(home) and not sim_sshd.existing(home)
    # The key is kept for the grace period, then the sweep removes it.
    assert keys.key_files(home, instance_id)
    assert instance.terminated_at is not None
    later = Provisioner(
        service.settings, clock=FakeClock(instance.terminated_at + timedelta(minutes=61))
    )
    Reaper(later).sweep()
    assert not keys.key_files(home, instance_id)
    assert not (home / "keys").exists() or not any((home / "keys").iterdir())


def test_ctrl_c_during_the_command_still_destroys_with_down(tmp_path, home):
    process, lines, _go = start_run(tmp_path, "--down")
    lines.wait_for(LINE)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=SAFETY)
    assert process.returncode == 130
    service, instance_id = only_instance(home)
    assert service.get(instance_id).status == "TERMINATED"
    types = [e.type for e in service.events(instance_id)]
    assert types[-4:] == [
        "instance:running",
        "instance:ready",
        "instance:stopping",
        "instance:terminated",
    ]
    (record,) = runlog.runs(home, instance_id)
    assert record["exitCode"] is None and record["note"] == "interrupted"
    assert not sshd_processes(home) and not sim_sshd.existing(home)


def test_sigkill_leaves_it_to_the_ttl_and_the_reaper_which_cleans_the_endpoint(tmp_path, home):
    process, lines, _go = start_run(tmp_path, "--down", "--ttl", "10")
    lines.wait_for(LINE)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=SAFETY)
    service, instance_id = only_instance(home)
    instance = service.get(instance_id)
    assert instance.status == "RUNNING"  # nobody was left to destroy it
    assert sshd_processes(home)  # the VM is still up: its endpoint too
    expired = Provisioner(
        service.settings, clock=FakeClock(instance.expires_at + timedelta(minutes=1))
    )
    summary = Reaper(expired).sweep()
    assert summary.expired == 1
    assert expired.get(instance_id).status == "TERMINATED"
    assert not sshd_processes(home) and not sim_sshd.existing(home)
    assert not any(p for p in sim_sshd.sandbox_pids(home / "simulated-vms" / instance_id))


def test_the_sweep_stops_an_endpoint_whose_stack_is_gone(service, home):
    from factories import make_request
    from remote.conftest import LOCAL

    instance = service.provision(make_request(allowed_ssh_cidrs=(LOCAL,)))
    # A crash between the stack's destroy and the endpoint's stop: the stack file says nothing
    # is left, but the VM's sshd still runs.
    (home / "simulated-stacks" / f"{instance.id}.json").unlink()
    assert sshd_processes(home)
    result = Reaper(service).sweep().to_json()
    assert {
        "kind": "endpoint",
        "target": instance.id,
        "outcome": "done",
        "detail": "SSH endpoint stopped",
    } in result["actions"]
    assert not sshd_processes(home) and not sim_sshd.existing(home)


def test_logs_follow_replays_until_the_run_ends(tmp_path, home):
    process, lines, go = start_run(tmp_path)
    lines.wait_for(LINE)
    service, instance_id = only_instance(home)
    follower = cli("logs", instance_id, "--follow", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    followed = Lines(follower)
    followed.wait_for(LINE)
    assert follower.poll() is None  # still following: the run has not ended
    go.touch()
    assert process.wait(timeout=SAFETY) == 3
    assert follower.wait(timeout=SAFETY) == 0
    assert service.get(instance_id).status == "READY"  # without --down it stays up
    service.terminate(instance_id)


@pytest.mark.parametrize("bad", [["--workdir", "./missing"], []])
def test_run_refuses_bad_input_before_creating_anything(tmp_path, home, bad):
    process = cli(
        "run",
        "--simulate",
        "--provider",
        "aws",
        "--instance-type",
        "g4dn.xlarge",
        *bad,
        *(["--", "true"] if bad else []),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = process.communicate(timeout=SAFETY)
    assert process.returncode == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert not (home / "simulated-stacks").exists()
