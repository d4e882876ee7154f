"""SSH through the OpenSSH client (`ssh` in a subprocess).

Why OpenSSH and not asyncssh/paramiko: `provisioner ssh` is an interactive terminal (a pty,
window resizes, escape sequences, agent forwarding if the user asks) that only the real client
does right; the remote exit status comes back as `ssh`'s own exit code, exactly; rsync rides on
it (`rsync -e ssh`); and the user's own key works through their agent without provisioner ever
reading a private key. Every call is pinned: `-F none` (no user config), a per-instance
known_hosts with `StrictHostKeyChecking=accept-new` (trust on first contact, refuse a changed
key), keys only (no password or keyboard-interactive prompts).
"""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from provisioner.rules.errors import ProvisionerError, ValidationError

SSH_FAILED = 255  # ssh's own exit code when the connection (not the command) failed
HOST_KEY_CHANGED = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed")
ACTIVE_DIR = "/var/tmp/provisioner-active"  # stacks/deadman.py ACTIVE_DIR: the idle guard reads it
# The simulated VM's sandbox sets PROVISIONER_SANDBOX; on a real VM it is unset and paths are the
# VM's own.
SANDBOX = "${PROVISIONER_SANDBOX:-}"


class Sink(Protocol):
    """Where streamed output goes: a binary stream, or a run log."""

    def write(self, chunk: bytes, /) -> int: ...

    def flush(self) -> None: ...


class RemoteError(ProvisionerError):
    """Reaching or using the VM over SSH failed."""

    code = "REMOTE_ERROR"


class HostKeyMismatchError(RemoteError):
    code = "HOST_KEY_MISMATCH"


@dataclass(frozen=True)
class SshTarget:
    """Where and as whom to connect. `key_file` None: the user's own key (agent/defaults)."""

    host: str
    port: int
    user: str
    known_hosts: Path
    key_file: Path | None = None
    simulated: bool = False


def ssh_binary() -> str:
    found = shutil.which("ssh")
    if found is None:
        raise RemoteError("the OpenSSH client (`ssh`) is not installed; install openssh-client")
    return found


def options(target: SshTarget, *, batch: bool = True, connect_timeout: int = 10) -> list[str]:
    opts = [
        "-F",
        "none",
        "-p",
        str(target.port),
        "-o",
        f"UserKnownHostsFile={target.known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "KbdInteractiveAuthentication=no",
        "-o",
        f"ConnectTimeout={connect_timeout}",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "LogLevel=ERROR",
    ]
    if target.key_file is not None:
        opts += ["-i", str(target.key_file), "-o", "IdentitiesOnly=yes"]
    if batch:
        opts += ["-o", "BatchMode=yes"]
    return opts


def argv(
    target: SshTarget,
    command: str | None = None,
    *,
    tty: bool | None = None,
    extra: Sequence[str] = (),
    batch: bool = True,
) -> list[str]:
    args = [ssh_binary(), *options(target, batch=batch)]
    if tty is True:
        args.append("-t")
    elif tty is False:
        args.append("-T")
    args += [*extra, f"{target.user}@{target.host}"]
    if command is not None:
        args.append(command)
    return args


def display_command(target: SshTarget) -> str:
    """The plain `ssh` command that reaches the VM from here (what `sshCommand` shows)."""
    parts = ["ssh"]
    if target.key_file is not None:
        parts += ["-i", str(target.key_file), "-o", "IdentitiesOnly=yes"]
    parts += ["-o", f"UserKnownHostsFile={target.known_hosts}"]
    if target.port != 22:
        parts += ["-p", str(target.port)]
    parts.append(f"{target.user}@{target.host}")
    line = shlex.join(parts)
    return f"{line}  # simulated VM: its local SSH endpoint" if target.simulated else line


def shell_command(args: Sequence[str]) -> str:
    """`exec ID -- ARGS`: one argument is a shell command line as typed; several are quoted
    words (so `-- sh -c 'exit 7'` runs exactly that)."""
    if not args or not "".join(args).strip():
        raise ValidationError("command", "Command is missing: put it after `--`")
    return args[0] if len(args) == 1 else shlex.join(args)


def tracked(command: str, workdir: str | None = None) -> str:
    """Wrap a remote command so the VM's idle guard sees it running (a marker named by the
    wrapper's pid) and, with `workdir`, run it there. The exit status is the command's."""
    cd = f"cd {shlex.quote(workdir)} || exit 125; " if workdir else ""
    return (
        f'm="{SANDBOX}{ACTIVE_DIR}"; mkdir -p "$m" 2>/dev/null; : > "$m/$$" 2>/dev/null; '
        f'{cd}sh -c {shlex.quote(command)}; rc=$?; rm -f "$m/$$"; exit $rc'
    )


def check_host_key(stderr: str) -> None:
    if any(marker in stderr for marker in HOST_KEY_CHANGED):
        raise HostKeyMismatchError(
            "the VM's SSH host key differs from the one pinned on first contact; refusing to "
            "connect (possible man-in-the-middle)"
        )


def capture(target: SshTarget, command: str, *, timeout: float | None = 60) -> tuple[int, str, str]:
    """Run a command, returning (exit code, stdout, stderr); a changed host key raises."""
    done = subprocess.run(
        argv(target, command, tty=False),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    err = done.stderr.decode(errors="replace")
    if done.returncode == SSH_FAILED:
        check_host_key(err)
    return done.returncode, done.stdout.decode(errors="replace"), err


def _pump(source: BinaryIO, sinks: Sequence[Sink]) -> None:
    read = getattr(source, "read1", source.read)
    while chunk := read(65536):
        for sink in sinks:
            sink.write(chunk)
            sink.flush()


def stream(
    target: SshTarget,
    command: str,
    *,
    stdout: Sequence[Sink],
    stderr: Sequence[Sink],
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> int:
    """Run a command with its output copied live to every sink; return the remote exit code.

    An interruption (Ctrl-C) stops the local `ssh` and re-raises."""
    tail = _Tail()
    errors: list[Sink] = [*stderr, tail]
    process = subprocess.Popen(
        argv(target, command, tty=False),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if on_start is not None:
        on_start(process)
    assert process.stdout is not None and process.stderr is not None
    threads = [
        threading.Thread(target=_pump, args=(process.stdout, stdout), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, errors), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        code = process.wait()
        for thread in threads:
            thread.join()
    except BaseException:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    if code == SSH_FAILED:
        check_host_key(tail.text())
    return code


class _Tail:
    """Keeps the last few KB of stderr to recognise ssh's own failures."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        del self.data[:-8192]
        return len(chunk)

    def flush(self) -> None:
        return None

    def text(self) -> str:
        return self.data.decode(errors="replace")


def interactive(target: SshTarget, options: Sequence[str] = (), command: Sequence[str] = ()) -> int:
    """An interactive session on this terminal, or `command` (`ssh ID -- true`); `options` are
    the user's extra ssh options. No prompts when stdin is not a terminal."""
    args = argv(target, extra=options, batch=not sys.stdin.isatty())
    child = subprocess.Popen([*args, *command])

    def forward(signum: int, frame: object) -> None:
        # SIGTERM/SIGHUP to `provisioner ssh` (a tunnel's `-L ... -N` under a supervisor) reach
        # its ssh too: the child never outlives us (#27). Ctrl-C reaches both from the terminal.
        child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:
                continue  # the terminal sent SIGINT to ssh as well; it decides and exits
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def wait_until(
    target: SshTarget,
    command: str,
    *,
    deadline: float,
    pause: float = 2.0,
    monotonic: Callable[[], float] = time.monotonic,
    give_up: Callable[[str], bool] | None = None,
) -> tuple[int, str, str]:
    """Retry `command` until SSH connects (any exit code but 255) or `deadline` (monotonic)
    passes; a changed host key stops at once, and so does a failure `give_up(stderr)` calls
    final. RemoteError on timeout or giving up, with ssh's last words."""
    last = ""
    while True:
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise RemoteError(f"SSH did not answer in time: {last.strip() or 'no answer'}")
        try:
            code, out, err = capture(target, command, timeout=max(remaining, 1))
        except subprocess.TimeoutExpired:
            raise RemoteError(
                "SSH did not answer in time (the command was still running)"
            ) from None
        if code != SSH_FAILED:
            return code, out, err
        if give_up is not None and give_up(err):
            raise RemoteError(err.strip() or "SSH failed")
        last = err
        time.sleep(min(pause, max(deadline - monotonic(), 0)))
