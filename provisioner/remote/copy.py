"""`provisioner cp`: files between here and the VM, by rsync over the same pinned SSH when both
ends have it, else by SFTP (#27).

rsync's rule for a trailing slash holds for both methods: `ID:out/ ./out` copies what `out`
holds into ./out; `ID:out ./results` copies the folder `out` into ./results (as
./results/out when ./results is a folder). Remote paths are as the CLI resolved them: relative
to the login user's home, or absolute."""

from __future__ import annotations

import posixpath
import shlex
import shutil
import subprocess
from pathlib import Path

from provisioner.remote import ssh
from provisioner.remote.ssh import RemoteError, SshTarget
from provisioner.remote.sync import _sftp_quote, _without_port
from provisioner.rules.errors import ValidationError


def _choose(target: SshTarget, prepare: str, method: str | None) -> str:
    code, out, err = ssh.capture(
        target,
        f"{prepare}if command -v rsync >/dev/null 2>&1; then echo rsync; else echo none; fi",
    )
    if code != 0:
        raise RemoteError(f"preparing the copy on the VM failed: {err.strip() or out.strip()}")
    if method is not None:
        return method
    both = out.strip().endswith("rsync") and shutil.which("rsync") is not None
    return "rsync" if both else "sftp"


def _rsync(target: SshTarget, source: str, dest: str) -> None:
    shell = shlex.join([ssh.ssh_binary(), *ssh.options(target)])
    done = subprocess.run(
        ["rsync", "--archive", "--compress", "--protect-args", "-e", shell, source, dest],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        text = done.stderr.decode(errors="replace")
        ssh.check_host_key(text)
        last = text.strip().splitlines()[:1]
        raise RemoteError(f"rsync failed ({done.returncode}): {' '.join(last)}")


def _sftp(target: SshTarget, lines: list[str]) -> None:
    sftp = shutil.which("sftp")
    if sftp is None:
        raise RemoteError("neither rsync nor sftp is installed here; install openssh-client")
    done = subprocess.run(
        [
            sftp,
            "-b",
            "-",
            "-P",
            str(target.port),
            *_without_port(ssh.options(target)),
            f"{target.user}@{target.host}",
        ],
        input="\n".join(lines).encode() + b"\n",
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        text = done.stderr.decode(errors="replace")
        ssh.check_host_key(text)
        raise RemoteError(f"sftp failed: {text.strip()[-300:]}")


def _plain(text: str, what: str) -> None:
    if any(ch in text for ch in "\n\r\0"):
        raise RemoteError(f"{what} {text!r} holds a newline; it cannot be copied safely")


def download(target: SshTarget, remote: str, local: Path, *, method: str | None = None) -> str:
    """Copy `remote` (a file or folder on the VM) to `local`; returns the method used."""
    _plain(remote, "the remote path")
    chosen = _choose(target, "", method)
    contents = remote.endswith("/")
    if contents:
        local.mkdir(parents=True, exist_ok=True)
    else:
        local.parent.mkdir(parents=True, exist_ok=True)
    if chosen == "rsync":
        dest = f"{local}/" if contents or local.is_dir() else str(local)
        _rsync(target, f"{target.user}@{target.host}:{remote}", dest)
    else:
        source = remote.rstrip("/") + "/." if contents else remote
        _sftp(target, [f'get -R -p "{_sftp_quote(source)}" "{_sftp_quote(str(local))}"'])
    return chosen


def upload(target: SshTarget, typed: str, remote: str, *, method: str | None = None) -> str:
    """Copy `typed` (a file or folder here, as typed: a trailing slash counts) to `remote` on
    the VM; returns the method used."""
    _plain(typed, "the local path")
    _plain(remote, "the remote path")
    local = Path(typed)
    if not local.exists():
        raise ValidationError("source", f"{typed} does not exist here")
    contents = typed.endswith("/") and local.is_dir()
    into = remote.rstrip("/") if contents or remote.endswith("/") else posixpath.dirname(remote)
    prepare = f"mkdir -p -- {shlex.quote(into)} && " if into else ""
    chosen = _choose(target, prepare, method)
    if chosen == "rsync":
        source = f"{local.resolve()}/" if contents else str(local.resolve())
        _rsync(target, source, f"{target.user}@{target.host}:{remote}")
    else:
        source = f"{local.resolve()}/." if contents else str(local.resolve())
        _sftp(target, [f'put -R -p "{_sftp_quote(source)}" "{_sftp_quote(remote)}"'])
    return chosen
