"""`doctor`'s file-privacy check (#10): the data dir holds the ledger (token hashes, SSH keys), the
Pulumi passphrase and key files, so neither it nor a file in it may be group/world-readable."""

from __future__ import annotations

import stat
from pathlib import Path

from provisioner.engine.base import DoctorCheck

MAX_LISTED = 5


def exposed(home: Path) -> list[str]:
    """What others can read: the home if group/world-accessible, then such files in it."""
    found: list[str] = []
    if not home.exists():
        return found
    mode = home.stat().st_mode & 0o777
    if mode & 0o077:
        found.append(f"{home} is mode {mode:o} (chmod 700 {home})")
    for path in sorted(home.iterdir()):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o044:
            found.append(f"{path.name} is mode {info.st_mode & 0o777:o}")
    return found


def privacy_check(home: Path) -> DoctorCheck:
    """A warning (not ok) naming what is readable by others, and the fix."""
    found = exposed(home)
    if not found:
        return DoctorCheck("files", True, f"{home} and its files are private (owner only)")
    shown = "; ".join(found[:MAX_LISTED])
    more = f"; and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
    return DoctorCheck(
        "files",
        False,
        f"readable by group/others: {shown}{more} (fix: chmod 700 {home}; chmod 600 its files)",
    )
