"""Lifetime commands: reap (the sweep, once or in a loop) and extend."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from provisioner.cli.completion import InstanceIdArg
from provisioner.cli.instances import JsonOpt

if TYPE_CHECKING:
    from provisioner.ops.reaper import SweepResult


def _print_sweep(result: SweepResult, json_output: bool) -> None:
    from provisioner.cli.render import out, when

    if json_output:
        print(json.dumps(result.to_json()), flush=True)  # one object per line, per sweep
        return
    out.print(
        f"sweep {when(result.at)}: expired {result.expired}, preempted {result.preempted}, "
        f"recovered {result.recovered}, "
        f"retried {result.retried}, orphans {result.orphans}"
        + (f", {result.waiting} destroy(s) waiting to retry" if result.waiting else "")
        + (f" ({result.orphans_destroyed} destroyed)" if result.orphans_destroyed else "")
        + (f", [red]{result.failed} failed[/red]" if result.failed else "")
    )
    for action in result.actions:
        colour = {"done": "green", "failed": "red"}.get(action.outcome, "yellow")
        out.print(
            f"  [{colour}]{action.outcome:<8}[/{colour}] {action.kind:<9} {action.target}: "
            f"{action.detail}",
            markup=True,
            highlight=False,
        )


def reap(
    once: Annotated[bool, typer.Option("--once", help="One sweep, then exit.")] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            min=0.1, help="Seconds between sweeps (default: PROVISIONER_REAP_INTERVAL_SECONDS, 60)."
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Terminate expired instances, recover interrupted operations, retry failed destroys and
    find orphaned stacks. Loops until Ctrl-C unless --once; --once exits 1 if an action failed."""
    import threading

    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import err
    from provisioner.ops.reaper import Reaper

    service = make_provisioner()
    reaper = Reaper(service)
    if once:
        result = reaper.sweep()
        _print_sweep(result, json_output)
        if result.failed:
            if not json_output:
                err.print(f"{result.failed} action(s) failed; the next sweep retries them")
            raise typer.Exit(1)
        return
    every = interval if interval is not None else service.settings.reap_interval_seconds
    if not json_output:
        err.print(f"reaping every {every:g} s (Ctrl-C to stop)")
    stop = threading.Event()
    try:
        reaper.run(interval=every, stop=stop, on_sweep=lambda r: _print_sweep(r, json_output))
    except KeyboardInterrupt:
        stop.set()


def extend(
    instance_id: InstanceIdArg,
    minutes: Annotated[
        str, typer.Option("--minutes", help="Push expiresAt by MINUTES or a duration: 90m, 2h.")
    ],
    json_output: JsonOpt = False,
) -> None:
    """Push an instance's expiry later; never past its hard deadline."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import out, print_json, when
    from provisioner.rules.durations import parse_minutes

    added = parse_minutes("minutes", minutes, flag="--minutes") or 0
    from provisioner.cli.ids import full_id

    service = make_provisioner()
    instance = service.extend(full_id(service, instance_id), added).to_json()
    if json_output:
        print_json({"success": True, "instance": instance})
        return
    capped = instance["expiresAt"] == instance["hardDeadline"]
    out.print(
        f"{instance['id']}: expires {when(instance['expiresAt'])}"
        + (" (capped at the hard deadline: the on-VM deadman fires then)" if capped else "")
    )


def register(app: typer.Typer) -> None:
    app.command()(reap)
    app.command()(extend)
