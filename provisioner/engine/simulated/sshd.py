"""The simulated VM's SSH endpoint: Debian's OpenSSH `sshd`, run by us on a free 127.0.0.1 port,
or asyncssh's server (pysshd.py) on a machine without sshd.

Each simulated VM gets `<home>/simulated-vms/<stack-name>/`: its own ed25519 host key, an
authorized_keys with the instance's public key, an sshd_config that allows only keys, only the
local login user and only from the instance's allowed CIDRs (AllowUsers user@CIDR: a real
security group drops the packets instead), and a sandbox folder that stands in for the VM's
file system. Every session enters the sandbox through a ForceCommand wrapper (HOME is
sandbox/home, a stub `cloud-init status --wait` answers for the simulated boot). At "boot" the
setup script runs in the sandbox. Only the operating system is simulated: the SSH protocol,
keys, host-key checks and exit codes are real.

sshd daemonizes itself (so it outlives the process that ran `up`); its pid is in the state dir.
`stop` kills it and every process of the sandbox (the VM "powers off") and removes the folder.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from provisioner.rules.errors import EngineUnavailableError

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
SFTP_CANDIDATES = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server")
HOST = "127.0.0.1"


def sshd_binary() -> str | None:
    for path in SSHD_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("sshd")


def _python_server_available() -> bool:
    try:
        import asyncssh  # noqa: F401
    except ImportError:
        return False
    return True


def server_kind() -> str:
    """ "openssh" when Debian's sshd is installed, else "python" (asyncssh's server, a
    dependency): a machine with only Python and git still gets a real SSH endpoint.
    PROVISIONER_SIM_SSHD=python forces the Python server."""
    if os.environ.get("PROVISIONER_SIM_SSHD") != "python" and sshd_binary() is not None:
        return "openssh"
    if _python_server_available():
        return "python"
    raise EngineUnavailableError(
        "the simulated VM needs an SSH server: apt-get install openssh-server, "
        "or pip install 'provisioner[sim]' (asyncssh's server)"
    )


def _new_host_key(folder: Path, comment: str) -> None:
    """An ed25519 host key pair in OpenSSH's format: cryptography's (asyncssh's server always
    has it), else ssh-keygen's (beside OpenSSH's sshd; an `[aws]` install has no cryptography)."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        path = str(folder / "host_key")
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
        )
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    _write(folder / "host_key", private.decode(), 0o600)
    _write(folder / "host_key.pub", f"{public.decode()} {comment}\n", 0o644)


def login_user() -> str:
    """Who sessions log in as: an unprivileged sshd can only log in its own user."""
    return getpass.getuser()


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    user: str
    pid: int
    folder: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Endpoint:
        return cls(**{k: data[k] for k in ("host", "port", "user", "pid", "folder")})


def vms_root(home: Path) -> Path:
    return home / "simulated-vms"


def _sandbox(folder: Path) -> Path:
    return folder / "sandbox"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _enter_script(sandbox: Path) -> str:
    quoted = "'" + str(sandbox).replace("'", "'\\''") + "'"
    return f"""#!/bin/sh
# provisioner simulated VM: every session runs inside the sandbox
export PROVISIONER_SANDBOX={quoted}
export HOME="$PROVISIONER_SANDBOX/home"
export PATH="$PROVISIONER_SANDBOX/bin:$PATH"
cd "$HOME" || exit 1
if [ -n "$SSH_ORIGINAL_COMMAND" ]; then exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"; fi
exec /bin/sh -i
"""


CLOUD_INIT_STUB = """#!/bin/sh
# simulated cloud-init: `status [--wait]` reports the simulated boot (the setup script)
marker="$PROVISIONER_SANDBOX/var/lib/cloud/instance/boot-finished"
if [ "$1" != "status" ]; then
  echo "simulated cloud-init: only 'status' is supported" >&2; exit 1
fi
if [ "$2" = "--wait" ]; then
  while [ ! -e "$marker" ]; do sleep 0.2; done
fi
if [ -e "$marker" ]; then echo "status: done"; else echo "status: running"; fi
"""

BOOT_SCRIPT = """#!/bin/sh
# the simulated first boot: the setup script (as cloud-init would run it), then boot-finished
cd "$HOME" || exit 1
lib="$PROVISIONER_SANDBOX/var/lib/provisioner"
if [ -f "$lib/setup.sh" ]; then
  sh "$lib/setup.sh" >> "$PROVISIONER_SANDBOX/var/log/provisioner-setup.log" 2>&1
  echo $? > "$lib/setup.rc"
fi
mkdir -p "$PROVISIONER_SANDBOX/var/lib/cloud/instance"
: > "$PROVISIONER_SANDBOX/var/lib/cloud/instance/boot-finished"
"""


def _config(folder: Path, port: int, user: str, cidrs: tuple[str, ...]) -> str:
    allow = " ".join(f"{user}@{cidr}" for cidr in cidrs) or f"{user}@192.0.2.255/32"
    sftp = next((p for p in SFTP_CANDIDATES if os.access(p, os.X_OK)), "internal-sftp")
    return f"""# provisioner simulated VM endpoint
ListenAddress {HOST}
Port {port}
HostKey {folder / "host_key"}
PidFile {folder / "sshd.pid"}
AuthorizedKeysFile {folder / "authorized_keys"}
AllowUsers {allow}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
ForceCommand {folder / "enter"}
Subsystem sftp {sftp}
LogLevel ERROR
"""


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.write_text(text)
    path.chmod(mode)


def create(
    home: Path,
    name: str,
    *,
    public_key: str | None,
    cidrs: tuple[str, ...],
    setup_script: str | None,
) -> Endpoint:
    """Lay out the VM's folder, start its SSH server and its "boot". EngineUnavailableError when
    neither OpenSSH's sshd nor asyncssh is there. `name` is the stack's name: the one key
    create, restart, destroy and the sweep all use for the folder."""
    server_kind()  # EngineUnavailableError, in one line, when neither server is available
    folder = vms_root(home) / name
    sandbox = _sandbox(folder)
    for sub in ("home", "bin", "var/log", "var/lib/provisioner", "var/tmp"):
        (sandbox / sub).mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    if not (folder / "host_key").exists():
        _new_host_key(folder, name)
    _write(folder / "authorized_keys", (public_key or "") + "\n", 0o600)
    _write(folder / "enter", _enter_script(sandbox), 0o755)
    _write(sandbox / "bin" / "cloud-init", CLOUD_INIT_STUB, 0o755)
    _write(folder / "boot", BOOT_SCRIPT, 0o755)
    (folder / "cidrs").write_text("\n".join(cidrs))
    if setup_script:
        _write(sandbox / "var/lib/provisioner/setup.sh", setup_script, 0o755)
    endpoint = _start_sshd(folder, cidrs)
    _boot(folder)
    return endpoint


def _start_sshd(folder: Path, cidrs: tuple[str, ...], port: int | None = None) -> Endpoint:
    if server_kind() == "python":
        return _start_python(folder, port)
    sshd = sshd_binary()
    assert sshd is not None
    if os.geteuid() == 0:  # sshd run as root wants its privilege separation directory
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    user = login_user()
    last = ""
    for attempt in range(5):
        chosen = port if (port is not None and attempt == 0) else _free_port()
        _write(folder / "sshd_config", _config(folder, chosen, user, cidrs))
        pid_file = folder / "sshd.pid"
        pid_file.unlink(missing_ok=True)
        done = subprocess.run(
            [sshd, "-f", str(folder / "sshd_config"), "-E", str(folder / "sshd.log")],
            capture_output=True,
            check=False,
            start_new_session=True,
        )
        pid = _read_pid(pid_file)
        if done.returncode == 0 and pid is not None and _listening(chosen):
            return Endpoint(host=HOST, port=chosen, user=user, pid=pid, folder=str(folder))
        last = (done.stderr.decode(errors="replace") + _tail(folder / "sshd.log")).strip()
        if pid is not None:
            _kill(pid)
    raise EngineUnavailableError(f"the simulated VM's sshd did not start: {last[-300:]}")


def _start_python(folder: Path, port: int | None) -> Endpoint:
    """asyncssh's server, detached (double fork) like sshd daemonizes itself."""
    user = login_user()
    for attempt in range(5):
        chosen = port if (port is not None and attempt == 0) else _free_port()
        config = {
            "host": HOST,
            "port": chosen,
            "user": user,
            "home": str(_sandbox(folder) / "home"),
        }
        _write(folder / "sshd_config", json.dumps(config), 0o600)
        pid_file = folder / "sshd.pid"
        pid_file.unlink(missing_ok=True)
        subprocess.run(
            [
                "/bin/sh",
                "-c",
                'nohup "$0" -m provisioner.engine.simulated.pysshd "$1" >>"$2" 2>&1 </dev/null &',
                sys.executable,
                str(folder / "sshd_config"),
                str(folder / "sshd.log"),
            ],
            check=True,
            start_new_session=True,
        )
        pid = _read_pid(pid_file, wait=15.0)
        if pid is not None and _listening(chosen):
            return Endpoint(host=HOST, port=chosen, user=user, pid=pid, folder=str(folder))
        if pid is not None:
            _kill(pid)
    raise EngineUnavailableError(
        f"the simulated VM's SSH server did not start: {_tail(folder / 'sshd.log')[-300:]}"
    )


def _read_pid(path: Path, wait: float = 5.0) -> int | None:
    end = time.monotonic() + wait
    while True:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            if time.monotonic() >= end:
                return None
            time.sleep(0.02)


def _listening(port: int, wait: float = 5.0) -> bool:
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def _tail(path: Path) -> str:
    try:
        return path.read_text()[-500:]
    except OSError:
        return ""


def _boot(folder: Path) -> None:
    """Run the boot script detached (double fork: it outlives us and leaves no zombie)."""
    env = {
        "PATH": f"{_sandbox(folder) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "PROVISIONER_SANDBOX": str(_sandbox(folder)),
        "HOME": str(_sandbox(folder) / "home"),
    }
    subprocess.run(
        ["/bin/sh", "-c", 'nohup /bin/sh "$0" >/dev/null 2>&1 &', str(folder / "boot")],
        env=env,
        check=True,
        start_new_session=True,
    )


def is_running(endpoint: Endpoint) -> bool:
    return _is_our_sshd(endpoint.pid, Path(endpoint.folder))


def _is_our_sshd(pid: int, folder: Path) -> bool:
    """A live (not zombie) sshd started with this VM's config."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and str(folder / "sshd_config").encode() in cmdline


def restart(endpoint: Endpoint) -> Endpoint:
    """The VM "rebooted": start its sshd again with the same host key, on its port if free."""
    folder = Path(endpoint.folder)
    cidrs = tuple(c for c in (folder / "cidrs").read_text().splitlines() if c)
    return _start_sshd(folder, cidrs, port=endpoint.port)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return


def sandbox_pids(folder: Path) -> list[int]:
    """Processes running inside the sandbox (they carry PROVISIONER_SANDBOX in their env)."""
    marker = b"PROVISIONER_SANDBOX=" + str(_sandbox(folder)).encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ + b"\0":
            found.append(int(entry.name))
    return found


def stop_sshd_only(folder: Path) -> None:
    """Kill the VM's sshd alone (a crash), and wait until it is gone."""
    pid = _read_pid(folder / "sshd.pid", wait=0)
    if pid is None or not _is_our_sshd(pid, folder):
        return
    _terminate(pid, folder)


def _terminate(pid: int, folder: Path) -> None:
    """SIGTERM, then SIGKILL after 5 s; returns once the server is gone."""
    _kill(pid)
    end = time.monotonic() + 10
    while _is_our_sshd(pid, folder) and time.monotonic() < end:
        if time.monotonic() > end - 5:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _servers_of(folder: Path) -> list[int]:
    """Every live SSH server started with this VM's config, not only the one in sshd.pid: a
    start retried on a loaded machine (no pid file within the wait) can leave an earlier one."""
    needle = str(folder / "sshd_config").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return [pid for pid in found if _is_our_sshd(pid, folder)]


def stop(folder: Path) -> None:
    """Power the VM off: its SSH servers, every process in its sandbox, then its folder."""
    for pid in _servers_of(folder):
        _terminate(pid, folder)
    for _ in range(3):
        pids = sandbox_pids(folder)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    shutil.rmtree(folder, ignore_errors=True)


def existing(home: Path) -> list[Path]:
    root = vms_root(home)
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
