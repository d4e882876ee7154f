"""Helpers for the remote-access tests: they run over real SSH against the simulated VMs' sshd
(Debian's openssh-server; `.ci/run` installs it) and skip, saying so, only when it is absent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.engine.simulated import sshd as sim_sshd

NO_SSHD = (
    "needs OpenSSH's sshd, ssh and rsync for the simulated VMs' SSH endpoints: "
    "apt-get install openssh-server openssh-client rsync (.ci/run does)"
)
HAVE_SSH = (
    sim_sshd.sshd_binary() is not None
    and shutil.which("ssh") is not None
    and shutil.which("ssh-keygen") is not None
    and shutil.which("rsync") is not None
)
needs_sshd = pytest.mark.skipif(not HAVE_SSH, reason=NO_SSHD)

LOCAL = "127.0.0.1/32"


def cli(*args: str, cwd: Path | None = None, **popen: object) -> subprocess.Popen[str]:
    """The real `provisioner` in a subprocess, with this test's environment (PROVISIONER_HOME)."""
    return subprocess.Popen(
        [sys.executable, "-m", "provisioner.cli.main", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
        **popen,  # type: ignore[arg-type]
    )


def sshd_processes(home: Path) -> list[int]:
    """Running sshd daemons whose config lives under `home`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and b"sshd" in cmdline and str(home).encode() in cmdline:
            found.append(int(entry.name))
    return found
