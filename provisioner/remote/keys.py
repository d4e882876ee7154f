"""SSH keys: the per-instance ed25519 pair under <home>/keys/<instance-id> (private half 0600,
never in the ledger, logs, events or JSON), the per-instance known_hosts, and Azure's throwaway.

A pair is made by the `cryptography` package when it is installed (the `sim` extra, #21), else
by OpenSSH's `ssh-keygen` (the client side that `provisioner ssh` needs anyway): a `[aws]` install
stays without cryptography's 14 MB. PROVISIONER_KEYGEN=ssh-keygen or =cryptography picks one
(tests use it to make both). `cryptography` is imported only when it makes a key."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from provisioner.rules.errors import ValidationError

KEYGEN_ENV = "PROVISIONER_KEYGEN"
BACKENDS = ("cryptography", "ssh-keygen")
NO_KEYGEN = (
    "no SSH key given and none can be made here: install OpenSSH's ssh-keygen (openssh-client), "
    "or pip install 'provisioner[sim]' (cryptography), or give --ssh-key"
)


def _backend(backend: str | None) -> str:
    """The key maker to use: the one asked for (argument, else PROVISIONER_KEYGEN), else
    cryptography when importable, else ssh-keygen when on PATH; ValidationError when neither."""
    wanted = backend or os.environ.get(KEYGEN_ENV) or None
    if wanted is not None and wanted not in BACKENDS:
        raise ValidationError(KEYGEN_ENV, f"{KEYGEN_ENV} must be one of {', '.join(BACKENDS)}")
    if wanted in (None, "cryptography"):
        try:
            import cryptography  # noqa: F401
        except ImportError:
            pass
        else:
            return "cryptography"
    if wanted in (None, "ssh-keygen") and shutil.which("ssh-keygen") is not None:
        return "ssh-keygen"
    raise ValidationError("sshPublicKey", NO_KEYGEN)


def new_ed25519_pair(
    comment: str, *, scratch: Path | None = None, backend: str | None = None
) -> tuple[bytes, str]:
    """A fresh ed25519 pair: (the private key in OpenSSH's format, the public key line ending in
    `comment`). With ssh-keygen the private half passes through a 0700 temporary folder under
    `scratch` (the caller's private folder), removed at once."""
    if _backend(backend) == "cryptography":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        return pem, f"{public.decode()} {comment}"
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".keygen-") as tmp:
        path = Path(tmp) / "key"
        done = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ValidationError(
                "sshPublicKey", f"ssh-keygen could not make a key: {done.stderr.strip()[-200:]}"
            )
        pem = path.read_bytes()
        kind, blob = path.with_name("key.pub").read_text().split()[:2]
    return pem, f"{kind} {blob} {comment}"


def throwaway_public_key() -> str:
    """A fresh Ed25519 public key whose private half is discarded at once.

    Azure refuses a Linux VM with password login disabled and no key; when the user gives no key
    we install this one, so nobody can log in (the VM is reachable only by the task it runs).
    """
    return new_ed25519_pair("provisioner-throwaway")[1]


# -- per-instance key files (#11) -----------------------------------------------------------------


def keys_dir(home: Path) -> Path:
    return home / "keys"


def key_path(home: Path, instance_id: str) -> Path:
    """The instance's private key (0600); `<path>.pub` is its public half."""
    return keys_dir(home) / instance_id


def known_hosts_path(home: Path, instance_id: str) -> Path:
    """The instance's own known_hosts: its host key is pinned here on first contact, never in
    the user's global file."""
    return keys_dir(home) / f"{instance_id}.known_hosts"


def generate_key_pair(home: Path, instance_id: str, *, backend: str | None = None) -> str:
    """Make an ed25519 pair for the instance; write the private key 0600 (created with that
    mode, never readable by others even for a moment) and return the public key line.
    ValidationError, before any file is made, when no key maker is installed."""
    _backend(backend)  # neither cryptography nor ssh-keygen: fail before making the folder
    folder = keys_dir(home)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem, line = new_ed25519_pair(f"provisioner-{instance_id}", scratch=folder, backend=backend)
    path = key_path(home, instance_id)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    path.with_name(f"{instance_id}.pub").write_text(line + "\n")
    return line


def has_private_key(home: Path, instance_id: str) -> bool:
    return key_path(home, instance_id).is_file()


def key_files(home: Path, instance_id: str) -> list[Path]:
    base = key_path(home, instance_id)
    candidates = [base, base.with_name(f"{instance_id}.pub"), known_hosts_path(home, instance_id)]
    return [p for p in candidates if p.exists()]


def instance_ids_with_keys(home: Path) -> set[str]:
    folder = keys_dir(home)
    if not folder.is_dir():
        return set()
    return {p.name.split(".", 1)[0] for p in folder.iterdir() if p.name.startswith("inst-")}


def remove_key_files(home: Path, instance_id: str) -> list[Path]:
    removed = []
    for path in key_files(home, instance_id):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def age_seconds(home: Path, instance_id: str) -> float:
    """How long ago the newest of the instance's key files changed (real time)."""
    import time

    files = key_files(home, instance_id)
    if not files:
        return float("inf")
    return time.time() - max(p.stat().st_mtime for p in files)
