"""SSH keys: the per-instance ed25519 pair under <home>/keys/<instance-id> (private half 0600,
never in the ledger, logs, events or JSON), the per-instance known_hosts, and Azure's throwaway.

`cryptography` is imported only when a key must be made."""

from __future__ import annotations

import os
from pathlib import Path


def throwaway_public_key() -> str:
    """A fresh Ed25519 public key whose private half is discarded at once.

    Azure refuses a Linux VM with password login disabled and no key; when the user gives no key
    we install this one, so nobody can log in (the VM is reachable only by the task it runs).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key()
    line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return line.decode() + " provisioner-throwaway"


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


def generate_key_pair(home: Path, instance_id: str) -> str:
    """Make an ed25519 pair for the instance; write the private key 0600 (created with that
    mode, never readable by others even for a moment) and return the public key line."""
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
    line = f"{public.decode()} provisioner-{instance_id}"
    folder = keys_dir(home)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
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
