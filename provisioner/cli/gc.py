"""`provisioner gc`: export old stacks' history into the ledger, remove them from self-managed
backends, archive old event rows (#13)."""

from __future__ import annotations

from typing import Annotated

import typer

from provisioner.cli.instances import JsonOpt


def gc(
    older_than: Annotated[
        str,
        typer.Option("--older-than", help="Collect instances that ended before this: 30d, 12h."),
    ] = "30d",
    remove_stacks: Annotated[
        bool,
        typer.Option(
            "--remove-stacks",
            help="Remove stacks from Pulumi Cloud too (kept by default: its console is the "
            "audit trail).",
        ),
    ] = False,
    simulate: Annotated[bool, typer.Option("--simulate", help="The simulated engine.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Keep the backend and the ledger from piling up: history kept, stacks and events moved."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import out, print_json
    from provisioner.ops.gc import collect, parse_window
    from provisioner.rules.errors import ValidationError

    try:
        window = parse_window(older_than)
    except ValueError as exc:
        raise ValidationError("olderThan", str(exc)) from exc
    service = make_provisioner(simulate=simulate)
    result = collect(service, older_than=window, remove_stacks=remove_stacks)
    if json_output:
        print_json({"success": not result.failed, "gc": result.to_json()})
    else:
        out.print(
            f"collected {result.collected} instance(s) ended before {result.cutoff:%Y-%m-%d %H:%M}"
            f": {result.stacks_removed} stack(s) removed, {result.stacks_kept} kept, "
            f"{result.history_entries} history entries kept in the ledger, "
            f"{result.events_archived} event row(s) archived"
            + (f" to {result.archive_file}" if result.archive_file else "")
        )
        for failure in result.failed:
            out.print(f"  [red]failed[/red] {failure['instanceId']}: {failure['error']}")
    if result.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(gc)
