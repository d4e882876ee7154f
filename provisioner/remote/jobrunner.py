"""Running a job detached on a pool VM, and scrubbing the VM after it (#22).

Everything a job leaves is on the VM under var/lib/provisioner/jobs/<id>/: `pid` (the job's
process group, made by setsid), `out.log` (stdout and stderr), `rc` (its exit code, written when
it ends). The start is guarded by `mkdir` of that folder, so starting twice (a replica that died
after claiming, another that re-attaches after the lease) never runs the command twice.

On the simulated VM (this machine; PROVISIONER_SANDBOX set by its sshd) these isolation steps are
SIMULATED: /tmp, /var/tmp and /dev/shm are the sandbox's own folders, not the machine's; there is
no GPU (the "no GPU compute process left" check reports it is simulated); jobs run as the one
login user (no per-job Unix account). Killing the job's process group, checking that none of its
processes is left, and wiping its workdir and those folders are real.

The scheduler talks to each pool VM several times per job (start, poll, output, scrub) and polls
every running job each sweep, so its SSH calls share one connection per VM (OpenSSH
ControlMaster, kept 60 s after the last call): a call costs one channel, not one handshake
(0.7 s -> 0.2 s each on a loaded test machine). The control sockets live in a private folder
(0700, ours) under the temp dir, short enough for a socket path; if that folder is not ours and
private, calls go without multiplexing.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from provisioner.remote import ssh
from provisioner.remote.ssh import SshTarget

JOBS_DIR = f"{ssh.SANDBOX}/var/lib/provisioner/jobs"
WORK_ROOT = "provisioner-jobs"  # under the login user's home


def _dir(job_id: str) -> str:
    return f'"{JOBS_DIR}/{job_id}"'


def start_command(job_id: str, command: str, *, with_workdir: bool) -> str:
    """Prints `started` (and runs the job, detached) or `attached` (it was started already)."""
    work = f'"$HOME/{WORK_ROOT}/{job_id}"'
    unpack = f"tar -xzf - -C {work} || exit 12; " if with_workdir else "cat >/dev/null; "
    inner = (
        f"sh -c {shlex.quote(command)}; rc=$?; "
        f"echo $rc > {_dir(job_id)}/rc.tmp && mv {_dir(job_id)}/rc.tmp {_dir(job_id)}/rc"
    )
    return (
        f'mkdir -p "{JOBS_DIR}" || exit 11; '
        f"if mkdir {_dir(job_id)} 2>/dev/null; then "
        f"mkdir -p {work} || exit 11; {unpack}cd {work} || exit 11; "
        f'mkdir -p "{ssh.SANDBOX}/tmp"; export TMPDIR="{ssh.SANDBOX}/tmp"; '
        f"setsid sh -c {shlex.quote(inner)} > {_dir(job_id)}/out.log 2>&1 < /dev/null & "
        f"echo $! > {_dir(job_id)}/pid; echo started; "
        "else cat >/dev/null; echo attached; fi"
    )


def poll_command(job_id: str) -> str:
    """Prints `done RC`, `running`, `lost` (started, no process, no rc) or `absent`."""
    d = _dir(job_id)
    return (
        f"if [ -f {d}/rc ]; then echo done $(cat {d}/rc); "
        f'elif [ -f {d}/pid ] && kill -0 "$(cat {d}/pid)" 2>/dev/null; then echo running; '
        f"elif [ -d {d} ]; then echo lost; else echo absent; fi"
    )


def kill_command(job_id: str) -> str:
    """Stops the job's whole process group: TERM, then KILL after 2 s."""
    d = _dir(job_id)
    return (
        f'p=$(cat {d}/pid 2>/dev/null); [ -n "$p" ] || exit 0; '
        'kill -TERM -- "-$p" 2>/dev/null; i=0; '
        'while kill -0 -- "-$p" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; '
        'kill -KILL -- "-$p" 2>/dev/null; exit 0'
    )


def output_command(job_id: str) -> str:
    return f"cat {_dir(job_id)}/out.log 2>/dev/null"


def scrub_command(job_id: str) -> str:
    """Each step prints `ok STEP`, `simulated STEP` or `FAILED STEP`; exit 0 only if all passed."""
    d = _dir(job_id)
    s = ssh.SANDBOX
    return (
        "bad=0; "
        f"p=$(cat {d}/pid 2>/dev/null); left=0; "
        'if [ -n "$p" ]; then kill -KILL -- "-$p" 2>/dev/null; '
        # No live process of the job's group left: a killed one may take a moment to go on a
        # busy machine (up to 5 s; zombies waiting for their reaper do not count).
        "left=1; for i in $(seq 1 25); do "
        'ps -o stat= -g "$p" 2>/dev/null | grep -qv "^Z" || { left=0; break; }; '
        "sleep 0.2; done; fi; "
        'if [ "$left" = 1 ]; then '
        "echo FAILED kill-job-processes; bad=1; else echo ok kill-job-processes; fi; "
        # No GPU compute process left.
        'if command -v nvidia-smi >/dev/null 2>&1 && [ -z "$PROVISIONER_SANDBOX" ]; then '
        "n=$(nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -c .); "
        'if [ "$n" = 0 ]; then echo ok no-gpu-process; else echo FAILED no-gpu-process; bad=1; fi; '
        "else echo simulated no-gpu-process; fi; "
        # The workdir, the job's saved output, and the shared scratch folders.
        f'rm -rf "$HOME/{WORK_ROOT}/{job_id}" {d}/out.log && echo ok wipe-workdir '
        "|| { echo FAILED wipe-workdir; bad=1; }; "
        "for t in /tmp /var/tmp /dev/shm; do "
        f'  if [ -d "{s}$t" ]; then find "{s}$t" -mindepth 1 -delete 2>/dev/null; '
        f'    if [ -n "$(ls -A "{s}$t" 2>/dev/null)" ]; then echo FAILED "wipe$t"; bad=1; '
        '    elif [ -n "$PROVISIONER_SANDBOX" ]; then echo simulated "wipe$t"; '
        '    else echo ok "wipe$t"; fi; '
        '  else echo ok "wipe$t"; fi; '
        "done; exit $bad"
    )


def mux_options(target: SshTarget) -> list[str]:
    """ssh options that share one connection per VM, or none when the socket folder is unsafe.
    The socket is named by the VM's own known_hosts file (one per instance) as well as host,
    port and user (%C): a new VM that gets a destroyed one's address and port never rides the
    old VM's still-open master (whose host key was the old one's)."""
    folder = Path(tempfile.gettempdir()) / f"provisioner-mux-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return []
    if not folder.is_dir() or folder.is_symlink() or info.st_uid != os.getuid():
        return []
    if info.st_mode & 0o077:
        return []
    tag = _vm_tag(target)
    # A Unix socket path has 107 bytes; ssh adds %C's 40 and a 17-byte suffix while it binds.
    if len(f"{folder}/{tag}-") + 40 + 17 > 107:
        return []
    return [
        "-o",
        "ControlMaster=auto",
        "-o",
        f"ControlPath={folder}/{tag}-%C",
        "-o",
        "ControlPersist=60",
    ]


def _vm_tag(target: SshTarget) -> str:
    stem = target.known_hosts.name.removesuffix(".known_hosts")
    return "".join(c for c in stem if c.isalnum() or c in "._-")[:20] or "vm"


def capture(target: SshTarget, command: str, *, timeout: float = 60) -> tuple[int, str, str]:
    """`ssh.capture` over the VM's shared connection."""
    return run_with_input(target, command, b"", timeout=timeout)


def run_with_input(
    target: SshTarget, command: str, data: bytes, *, timeout: float = 120
) -> tuple[int, str, str]:
    """Run `command` with `data` on its stdin (the workdir's tar.gz)."""
    done = subprocess.run(
        ssh.argv(target, command, tty=False, extra=mux_options(target)),
        input=data,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    err = done.stderr.decode(errors="replace")
    if done.returncode == ssh.SSH_FAILED:
        ssh.check_host_key(err)
    return done.returncode, done.stdout.decode(errors="replace"), err
