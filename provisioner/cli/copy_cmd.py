"""`provisioner cp ID:PATH LOCAL` and `cp LOCAL ID:PATH` (#27): results back from the VM, files
to it. Exactly one side names an instance (its id or a unique prefix, then `:`)."""

from __future__ import annotations

import posixpath
import re
from typing import Annotated

import typer

from provisioner.cli.completion import remote_paths

# ID:PATH. The id part has no `/`, so ./a:b and /tmp/a:b stay local paths (as with scp).
_REMOTE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*):(.*)$", re.DOTALL)


def split_remote(text: str) -> tuple[str, str] | None:
    found = _REMOTE.match(text)
    return (found.group(1), found.group(2)) if found else None


def remote_path(typed: str, base: str | None) -> str:
    """Where PATH points, relative to the login home (or absolute): `~/x` and `/x` as typed;
    a relative path starts in `base` (the latest `run --workdir` folder) when there is one."""
    if typed.startswith("/"):
        return typed
    if typed in ("~", "~/"):
        return "./" if typed.endswith("/") else "."
    if typed.startswith("~/"):
        return typed[2:]
    if base is None:
        return typed or "."
    joined = posixpath.join(base, typed) if typed else base
    return joined


def cp(
    source: Annotated[
        str, typer.Argument(help="ID:PATH on the VM, or a local path.", autocompletion=remote_paths)
    ],
    dest: Annotated[
        str, typer.Argument(help="A local path, or ID:PATH on the VM.", autocompletion=remote_paths)
    ],
) -> None:
    """Copy files between here and an instance: `cp ID:out/ ./out` or `cp ./data ID:data`.

    rsync over the instance's pinned SSH when both ends have it, else SFTP; a trailing slash
    on the source copies what the folder holds (rsync's rule). A relative remote PATH starts in
    the folder the latest `run --workdir` ran in, else in the login home; `~/x` and `/x` are
    taken as typed."""
    from pathlib import Path

    from provisioner.cli.context import make_provisioner
    from provisioner.cli.ids import full_id
    from provisioner.cli.render import say
    from provisioner.remote import copy, runlog
    from provisioner.rules.errors import ValidationError

    down, up = split_remote(source), split_remote(dest)
    if (down is None) == (up is None):
        raise ValidationError(
            "source", "cp takes exactly one ID:PATH (the instance side) and one local path"
        )
    typed_id, typed_path = down or up  # type: ignore[misc]
    service = make_provisioner()
    instance_id = full_id(service, typed_id)
    _, target = service.live_target(instance_id)
    path = remote_path(typed_path, runlog.last_workdir(service.settings.home, instance_id))
    if down is not None:
        method = copy.download(target, path, Path(dest))
        say(f"copied {instance_id}:{path} to {dest} ({method})")
    else:
        method = copy.upload(target, source, path)
        say(f"copied {source} to {instance_id}:{path} ({method})")


def register(app: typer.Typer) -> None:
    app.command()(cp)
