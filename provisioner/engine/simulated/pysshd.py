"""The simulated VM's SSH endpoint where OpenSSH's sshd is not installed: asyncssh's server.

Run as `python -m provisioner.engine.simulated.pysshd <folder>/sshd_config` (detached, one per
simulated VM, like the sshd it stands in for). It reads the same folder sshd.py lays out: the
host key, authorized_keys, the allowed CIDRs and the `enter` wrapper. Exec requests and shells
run through `enter` exactly as OpenSSH's ForceCommand runs them (so a session lands in the
sandbox with the same environment), SFTP is asyncssh's own server rooted at the sandbox's home.
Keys only, only the login user, only from the allowed CIDRs; no forwarding of any kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import pty
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncssh


def _allowed(peer: str, cidrs: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(c, strict=False) for c in cidrs)


class _Server(asyncssh.SSHServer):
    def __init__(self, user: str, cidrs: list[str]):
        self.user = user
        self.cidrs = cidrs
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername") or ("", 0)
        if not _allowed(str(peer[0]), self.cidrs):  # a security group would drop the packets
            conn.close()

    def begin_auth(self, username: str) -> bool:
        if username != self.user and self.conn is not None:
            self.conn.close()
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False


async def _run(process: asyncssh.SSHServerProcess, folder: Path) -> None:
    command = process.command
    if process.subsystem:  # only sftp is offered, and it never reaches here
        process.exit(1)
        return
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    env["SSH_ORIGINAL_COMMAND"] = command or ""
    env["USER"] = env["LOGNAME"] = process.get_extra_info("username") or ""
    enter = [str(folder / "enter")]
    loop = asyncio.get_running_loop()
    if process.get_terminal_type():
        env["TERM"] = process.get_terminal_type() or "xterm"
        main_fd, child_fd = pty.openpty()
        child = subprocess.Popen(
            enter, stdin=child_fd, stdout=child_fd, stderr=child_fd, env=env,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
        os.close(child_fd)
        main = os.fdopen(main_fd, "r+b", buffering=0)
        with contextlib.suppress(OSError, asyncssh.Error):
            await process.redirect(stdin=main, stdout=main, recv_eof=False)
    else:
        child = subprocess.Popen(
            enter, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, start_new_session=True,
        )  # fmt: skip
        await process.redirect(stdin=child.stdin, stdout=child.stdout, stderr=child.stderr)
    code = await loop.run_in_executor(None, child.wait)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(process.stdout.drain(), 5)
    process.exit(code if code >= 0 else 128 - code)


def _sftp_factory(home: Path) -> Any:
    class _SFTP(asyncssh.SFTPServer):
        def __init__(self, chan: asyncssh.SSHServerChannel):
            os.chdir(home)  # relative paths land in the sandbox's home, as with sftp-server
            super().__init__(chan)

    return _SFTP


async def _serve(config_path: Path) -> None:
    folder = config_path.parent
    config = json.loads(config_path.read_text())
    cidrs = [c for c in (folder / "cidrs").read_text().splitlines() if c]
    home = Path(config["home"])
    await asyncssh.listen(
        config["host"],
        config["port"],
        server_factory=lambda: _Server(config["user"], cidrs),
        server_host_keys=[str(folder / "host_key")],
        authorized_client_keys=str(folder / "authorized_keys"),
        process_factory=lambda p: _run(p, folder),
        sftp_factory=_sftp_factory(home),
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
        encoding=None,
        line_editor=False,
    )
    (folder / "sshd.pid").write_text(f"{os.getpid()}\n")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()


def main() -> None:
    asyncio.run(_serve(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
