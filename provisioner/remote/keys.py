"""SSH key helpers that need a crypto library (imported only when a key must be made)."""

from __future__ import annotations


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
