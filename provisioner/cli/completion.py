"""Shell completion's answers (#27): instance ids, pool names, instance types and regions.

Each callback runs on every <TAB>, so it stays cheap: ids and pools come through the DB-API fast
path (ledger/fastread.py, no SQLAlchemy), types and regions from the catalog (rules/catalog.py,
standard library only). Nothing here imports pulumi, sqlmodel or fastapi, and a callback never
fails the shell: when the ledger cannot be read it offers nothing.

The annotated aliases (`InstanceIdArg`, `PoolOpt`...) are what the commands declare their
parameters with, so every command that takes an id completes it the same way."""

from __future__ import annotations

from typing import Annotated, Any

import typer

LIMIT = 200  # candidates offered at most: a shell shows no more than a screenful anyway


def _reader() -> Any:
    from provisioner.ledger import fastread

    url, _ = fastread.ledger_location()
    return fastread.open_reader(url)


def instance_ids(incomplete: str) -> list[str]:
    """Instance ids starting with what was typed, sorted."""
    try:
        reader = _reader()
        if reader is None:
            return []
        with reader:
            return reader.ids_starting(incomplete, LIMIT)
    except Exception:  # a shell's <TAB> never prints a traceback
        return []


def remote_paths(incomplete: str) -> list[str]:
    """`cp`'s ID:PATH: the id, then a colon for the path (the local side is the shell's)."""
    if ":" in incomplete:
        return []
    return [f"{found}:" for found in instance_ids(incomplete)]


def pool_names(incomplete: str) -> list[str]:
    try:
        reader = _reader()
        if reader is None:
            return []
        with reader:
            return reader.pool_names_starting(incomplete, LIMIT)
    except Exception:
        return []


def _catalog() -> Any:
    from provisioner.ledger import fastread
    from provisioner.rules.catalog import load_catalog

    _, home = fastread.ledger_location()
    return load_catalog(home=home)


def _provider(ctx: typer.Context) -> str | None:
    chosen = (ctx.params.get("provider") or "").strip().upper()
    return chosen if chosen and chosen != "ANY" else None


def instance_types(ctx: typer.Context, incomplete: str) -> list[str]:
    """Available catalog types (of --provider when given); `a,b` completes the last one."""
    done, _, last = incomplete.rpartition(",")
    head = f"{done}," if done else ""
    provider = _provider(ctx)
    names = {
        t.name
        for t in _catalog().types
        if not t.retired and (provider is None or t.provider == provider)
    }
    return [head + n for n in sorted(names) if n.lower().startswith(last.lower())]


def regions(ctx: typer.Context, incomplete: str) -> list[str]:
    """Regions the catalog lists (of --provider and --instance-type when given); a
    comma-separated list completes its last region."""
    done, _, last = incomplete.rpartition(",")
    head = f"{done}," if done else ""
    provider = _provider(ctx)
    wanted = {n.strip().lower() for n in (ctx.params.get("instance_type") or "").split(",") if n}
    found: set[str] = set()
    for t in _catalog().types:
        if provider is not None and t.provider != provider:
            continue
        if wanted and t.name.lower() not in wanted:
            continue
        found.update(t.regions)
    taken = set(done.split(",")) if done else set()
    return [head + r for r in sorted(found - taken) if r.startswith(last.lower())]


InstanceIdArg = Annotated[
    str, typer.Argument(help="Instance id (a unique prefix will do).", autocompletion=instance_ids)
]
PoolNameArg = Annotated[str, typer.Argument(help="The pool's name.", autocompletion=pool_names)]
