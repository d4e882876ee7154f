"""The on-VM idle guard: the real shell script, run under /bin/sh with stubbed nvidia-smi, who,
date and shutdown on PATH. Busy GPU, an open session or a running exec keep the VM; N idle minutes
power it off."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from stacks import deadman

SH = shutil.which("sh") or "/bin/sh"
START = 1_780_000_000  # an epoch second; the script only compares differences

pytestmark = pytest.mark.skipif(not Path(SH).exists(), reason="needs a POSIX shell")


class Vm:
    """A temp dir standing in for the VM: stub commands, the state file, the active dir."""

    def __init__(self, root: Path, idle_minutes: int = 10):
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        self.state = root / "idle-since"
        self.active = root / "active"
        self.active.mkdir()
        self.script = root / "provisioner-idle"
        self.script.write_text(deadman.idle_script(idle_minutes))
        self.shutdown_args = root / "shutdown.args"
        self.gpu_utilisation = ["0"]
        self.sessions = ""
        self._stub("shutdown", f'printf "%s\\n" "$@" > {self.shutdown_args}\n')

    def _stub(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)

    def check(self, now: int) -> str:
        self._stub("date", f"echo {now}\n")
        lines = "\\n".join(self.gpu_utilisation)
        self._stub("nvidia-smi", f'printf "{lines}\\n"\n')
        self._stub("who", f"printf '%s' '{self.sessions}'\n")
        done = subprocess.run(
            [SH, str(self.script)],
            env={
                "PATH": f"{self.bin}:/usr/bin:/bin",
                "PROVISIONER_IDLE_STATE": str(self.state),
                "PROVISIONER_ACTIVE_DIR": str(self.active),
            },
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    @property
    def powered_off(self) -> bool:
        return self.shutdown_args.exists()


@pytest.fixture
def vm(tmp_path: Path) -> Vm:
    return Vm(tmp_path, idle_minutes=10)


def test_idle_for_n_minutes_powers_off(vm):
    vm.check(START)  # first check: the idle clock starts
    vm.check(START + 9 * 60 + 59)
    assert not vm.powered_off
    vm.check(START + 10 * 60)
    assert vm.powered_off
    assert vm.shutdown_args.read_text().splitlines() == [
        "-h",
        "now",
        "provisioner: idle for 10 minutes",
    ]


def test_a_busy_gpu_keeps_it(vm):
    vm.check(START)
    vm.gpu_utilisation = ["0", "37"]  # the second GPU is working
    vm.check(START + 30 * 60)
    assert not vm.powered_off
    vm.gpu_utilisation = ["0", "0"]  # idle again: the clock restarts from the last busy check
    vm.check(START + 39 * 60)
    assert not vm.powered_off
    vm.check(START + 40 * 60)
    assert vm.powered_off


def test_an_open_ssh_session_keeps_it(vm):
    vm.check(START)
    vm.sessions = "ubuntu   pts/0        2026-11-29 10:00 (198.51.100.7)"
    vm.check(START + 60 * 60)
    assert not vm.powered_off
    vm.sessions = ""
    vm.check(START + 69 * 60)
    assert not vm.powered_off
    vm.check(START + 70 * 60)
    assert vm.powered_off


def test_a_running_exec_keeps_it_and_a_dead_ones_marker_does_not(vm):
    vm.check(START)
    runner = subprocess.Popen(["sleep", "60"])
    try:
        (vm.active / str(runner.pid)).touch()  # what `exec`/`run` leave while a command runs
        vm.check(START + 30 * 60)
        assert not vm.powered_off
    finally:
        runner.kill()
        runner.wait()
    # The wrapper was killed without removing its marker: a dead pid is not activity.
    vm.check(START + 39 * 60)
    assert not vm.powered_off
    vm.check(START + 40 * 60)
    assert vm.powered_off


def test_without_nvidia_smi_the_other_signals_still_count(tmp_path):
    vm = Vm(tmp_path, idle_minutes=5)
    vm.check(START)
    (vm.bin / "nvidia-smi").unlink()
    vm.check(START + 5 * 60)
    assert vm.powered_off


def test_the_minutes_are_rendered_as_an_integer_only():
    assert "idle_seconds=1200\n" in deadman.idle_script(20)
    with pytest.raises(ValueError):
        deadman.idle_script(0)
    with pytest.raises((TypeError, ValueError)):
        deadman.idle_script("5; reboot")  # type: ignore[arg-type]


def test_runs_with_the_real_active_marker_wrapper(tmp_path):
    """The marker `provisioner exec` writes (remote/ssh.py `tracked`) is the one the guard reads."""
    from provisioner.remote.ssh import tracked

    vm = Vm(tmp_path, idle_minutes=5)
    vm.check(START)
    sandbox = tmp_path / "sandbox"
    marker_dir = sandbox / "var/tmp/provisioner-active"
    go = tmp_path / "go"
    runner = subprocess.Popen(
        [SH, "-c", tracked(f"while [ ! -e {go} ]; do sleep 0.05; done")],
        env={**os.environ, "PROVISIONER_SANDBOX": str(sandbox)},
    )
    try:
        while not (marker_dir.is_dir() and any(marker_dir.iterdir())):
            assert runner.poll() is None
        vm.active = marker_dir
        vm.check(START + 30 * 60)
        assert not vm.powered_off
    finally:
        go.touch()
        assert runner.wait() == 0
    assert not any(marker_dir.iterdir())  # removed when the command ended
