"""`--allow-ssh-from me`: this machine's public address, asked over HTTPS."""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request

from provisioner.remote.ssh import RemoteError


def public_address(url: str, *, timeout: float = 10) -> str:
    """The address `url` sees us coming from, as a /32 (or /128) CIDR."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read(256).decode("ascii", errors="replace").strip()
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteError(
            f"--allow-ssh-from me: cannot learn this machine's public address from {url} "
            f"({reason}); give a CIDR instead"
        ) from None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise RemoteError(
            f"--allow-ssh-from me: {url} answered {text[:40]!r}, not an IP address"
        ) from None
    return f"{address}/{address.max_prefixlen}"


def resolve_cidrs(cidrs: list[str], *, url: str, simulated: bool) -> list[str]:
    """Replace `me` with this machine's address: on the simulated engine the VM's endpoint is on
    127.0.0.1, so `me` is 127.0.0.1/32 there (no network needed)."""
    result = []
    for cidr in cidrs:
        if cidr.strip().lower() == "me":
            result.append("127.0.0.1/32" if simulated else public_address(url))
        else:
            result.append(cidr)
    return result
