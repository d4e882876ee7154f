"""Copy a local folder to the VM: rsync over the same pinned SSH, or SFTP where rsync is absent.

What is copied is `workdir_files`' list (no `.git/`, nothing a `.gitignore` or
`.provisionerignore` excludes), the same list by either method. Files already on the VM that the
list does not name are left alone (a re-sync keeps a previous run's outputs)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from provisioner.remote import ssh
from provisioner.remote.ssh import RemoteError, SshTarget
from provisioner.remote.workdir_files import workdir_files

REMOTE_ROOT = "provisioner-work"  # under the login user's home on the VM


def remote_dir(local: Path) -> str:
    name = local.resolve().name or "workdir"
    return f"{REMOTE_ROOT}/{name}"


def sync(target: SshTarget, local: Path, *, method: str | None = None) -> tuple[str, str]:
    """Copy `local` (its contents) to ~/provisioner-work/<name> on the VM.

    Returns (the remote dir, relative to the login directory; the method used). `method`
    forces "rsync" or "sftp"; by default rsync when both ends have it."""
    if not local.is_dir():
        raise RemoteError(f"--workdir {local} is not a folder")
    dest = remote_dir(local)
    code, out, err = ssh.capture(
        target,
        f"mkdir -p {shlex.quote(dest)} && if command -v rsync >/dev/null 2>&1; "
        "then echo rsync; else echo none; fi",
    )
    if code != 0:
        raise RemoteError(f"preparing {dest} on the VM failed: {err.strip() or out.strip()}")
    chosen = method or (
        "rsync" if out.strip() == "rsync" and shutil.which("rsync") is not None else "sftp"
    )
    if chosen == "rsync":
        _rsync(target, local, dest)
    else:
        _sftp(target, local, dest)
    return dest, chosen


def _rsync(target: SshTarget, local: Path, dest: str) -> None:
    shell = shlex.join([ssh.ssh_binary(), *ssh.options(target)])
    listed = "".join(f"{rel}\0" for rel in workdir_files(local.resolve()))
    done = subprocess.run(
        [
            "rsync",
            "--archive",
            "--compress",
            "--from0",
            "--files-from=-",  # exactly the list: --archive does not recurse with --files-from
            "-e",
            shell,
            f"{local.resolve()}/",
            f"{target.user}@{target.host}:{dest}/",
        ],
        input=listed.encode(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        ssh.check_host_key(done.stderr.decode(errors="replace"))
        raise RemoteError(
            f"rsync to the VM failed ({done.returncode}): "
            f"{done.stderr.decode(errors='replace').strip().splitlines()[-1:]}"
        )


def _sftp(target: SshTarget, local: Path, dest: str) -> None:
    """Mirror the tree with an sftp batch: folders first, then every file."""
    root = local.resolve()
    lines = []
    for rel in workdir_files(root):
        path = root / rel
        if any(ch in str(path) for ch in "\n\r\0"):
            # sftp's batch is line-based and runs `!` lines in a local shell: a newline in a name
            # would start one. Refused; rsync (when the VM has it) copies such names.
            raise RemoteError(f"--workdir: {rel!r} holds a newline; sftp cannot copy it safely")
        remote = f"{dest}/{rel}"
        if path.is_dir():
            lines.append(f'-mkdir "{_sftp_quote(remote)}"')
        elif path.is_file():
            lines.append(f'put -p "{_sftp_quote(str(path))}" "{_sftp_quote(remote)}"')
    sftp = shutil.which("sftp")
    if sftp is None:
        raise RemoteError("neither rsync nor sftp is installed here; install openssh-client")
    # sftp takes the port as -P: ssh's options without their -p PORT pair.
    opts = _without_port(ssh.options(target))
    done = subprocess.run(
        [sftp, "-b", "-", "-P", str(target.port), *opts, f"{target.user}@{target.host}"],
        input="\n".join(lines).encode() + b"\n",
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        ssh.check_host_key(done.stderr.decode(errors="replace"))
        raise RemoteError(
            f"sftp to the VM failed: {done.stderr.decode(errors='replace').strip()[-300:]}"
        )


def _without_port(opts: list[str]) -> list[str]:
    result: list[str] = []
    skip = False
    for item in opts:
        if skip:
            skip = False
            continue
        if item == "-p":
            skip = True
            continue
        result.append(item)
    return result


def _sftp_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
