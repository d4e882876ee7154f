"""A job's workdir sent over the API as a tar.gz (#22): checked, unpacked under the data dir and
handed on as a folder, exactly as `submit --workdir FOLDER` hands one on.

Refused (bad input, field `workdir`) before anything is written: an archive over
PROVISIONER_MAX_WORKDIR_BYTES (packed or unpacked), one that is not a tar.gz, and any member with
an absolute path, a `..` part, a link (symbolic or hard), a device or a FIFO. Only plain files and
folders are unpacked, and then with tarfile's own `data` filter as a second guard."""

from __future__ import annotations

import io
import secrets
import shutil
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from provisioner.rules.errors import ValidationError


def _members(data: bytes, limit: int) -> list[tarfile.TarInfo]:
    if len(data) > limit:
        raise ValidationError(
            "workdir",
            f"workdir archive is {len(data)} bytes, above PROVISIONER_MAX_WORKDIR_BYTES={limit}",
        )
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValidationError("workdir", f"workdir is not a readable tar.gz ({exc})") from None
    total = 0
    for member in members:
        name = member.name
        parts = PurePosixPath(name).parts
        if name.startswith(("/", "\\")) or (parts and ":" in parts[0]):
            raise ValidationError("workdir", f"workdir member {name!r} has an absolute path")
        if ".." in parts:
            raise ValidationError("workdir", f"workdir member {name!r} has a '..' part")
        if not (member.isfile() or member.isdir()):
            raise ValidationError(
                "workdir", f"workdir member {name!r} is a link or device: only files and folders"
            )
        total += member.size
        if total > limit:
            raise ValidationError(
                "workdir",
                f"workdir unpacks to more than PROVISIONER_MAX_WORKDIR_BYTES={limit} bytes",
            )
    return members


def check_workdir(data: bytes, limit: int) -> None:
    """Refuse a bad archive (ValidationError naming `workdir`) without writing anything."""
    _members(data, limit)


@contextmanager
def unpacked_workdir(data: bytes, limit: int, data_dir: Path) -> Iterator[Path]:
    """The archive unpacked in a fresh folder under `data_dir/uploads`, removed afterwards."""
    _members(data, limit)
    folder = data_dir / "uploads" / ("workdir-" + secrets.token_hex(8))
    folder.mkdir(parents=True, mode=0o700)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(folder, filter="data")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
