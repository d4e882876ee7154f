"""`provisioner pool create|list|show|edit|drain|delete` (#22)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from provisioner.cli.completion import PoolNameArg
from provisioner.cli.instances import JsonOpt
from provisioner.cli.request_options import RequestOptions, request_options

pool_app = typer.Typer(help="Warm pools of instances that jobs run on.", no_args_is_help=True)


def pool_json(service: Any, pool: Any) -> dict[str, Any]:
    from provisioner.ops.job_views import pool_json as as_json

    return as_json(service, pool)


def _print(data: Any, json_output: bool) -> None:
    if json_output:
        print(json.dumps(data, indent=2))
        return
    rows = data if isinstance(data, list) else [data]
    for p in rows:
        states = ", ".join(f"{m['id']} {m['poolState']}" for m in p["instances"]) or "none"
        print(
            f"{p['name']}  {p['status']}  min {p['min']} max {p['max']}  idle {p['idleMinutes']} "
            f"min  reuse {p['reuse']}  {p['provider']} {p['instanceType']}  [{p['engine']}]\n"
            f"  instances: {states}\n"
            f"  cost: ${p['cost']['instances']:.6f} = jobs ${p['cost']['jobs']:.6f} + overhead "
            f"${p['cost']['overhead']:.6f}"
        )


@pool_app.command("create")
@request_options
def create(
    name: Annotated[str, typer.Argument(help="The pool's name.")],
    min_: Annotated[int, typer.Option("--min", help="Warm instances kept even when idle.")] = 0,
    max_: Annotated[int, typer.Option("--max", help="Most instances at once.")] = 1,
    max_age: Annotated[
        int | None, typer.Option("--max-age", help="Recycle instances older than MINUTES.")
    ] = None,
    reuse: Annotated[
        str, typer.Option("--reuse", help="user: a VM serves one user's jobs; pool: any user's.")
    ] = "user",
    simulate: Annotated[bool, typer.Option("--simulate", help="Use the simulated engine.")] = False,
    json_output: JsonOpt = False,
    *,
    options: RequestOptions,
) -> None:
    """Create a pool: `up`'s request options plus its scaling (--idle-minutes is the pool's
    scale-in timeout, default 10)."""
    from dataclasses import replace

    from provisioner.cli.context import make_provisioner
    from provisioner.ops.pools_service import create_pool
    from provisioner.rules.durations import parse_minutes

    given = parse_minutes("idleMinutes", options.idle_minutes, flag="--idle-minutes")
    idle = 10 if given is None else given
    request = replace(options, idle_minutes=None).to_request(simulate=simulate)
    service = make_provisioner(simulate=simulate)
    pool = create_pool(
        service,
        name,
        request,
        minimum=min_,
        maximum=max_,
        idle_minutes=idle,
        max_age=max_age,
        reuse=reuse,
    )
    _print(pool_json(service, pool), json_output)


@pool_app.command("list")
def list_(json_output: JsonOpt = False) -> None:
    """Every pool, its instances and cost."""
    from provisioner.cli.context import make_provisioner
    from provisioner.ledger.pools import list_pools

    service = make_provisioner()
    _print([pool_json(service, p) for p in list_pools(service.ledger)], json_output)


@pool_app.command("show")
def show(name: PoolNameArg, json_output: JsonOpt = False) -> None:
    """One pool: settings, instances and pool states, cost (jobs + overhead)."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.pool_forecast import show_line
    from provisioner.ledger.pools import require_pool

    service = make_provisioner()
    pool = require_pool(service.ledger, name, field="name")
    _print(pool_json(service, pool), json_output)
    if not json_output:
        show_line(service, pool)  # the forecast schedule (#23)


@pool_app.command("edit")
def edit(
    name: PoolNameArg,
    min_: Annotated[int | None, typer.Option("--min")] = None,
    max_: Annotated[int | None, typer.Option("--max")] = None,
    idle_minutes: Annotated[int | None, typer.Option("--idle-minutes")] = None,
    max_age: Annotated[int | None, typer.Option("--max-age")] = None,
    reuse: Annotated[str | None, typer.Option("--reuse")] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="auto: warm min by hour from history; off.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Change a pool's scaling settings (the next sweep applies them)."""
    from provisioner.cli.context import make_provisioner
    from provisioner.ops.forecast_service import check_mode
    from provisioner.ops.pools_service import edit_pool

    if schedule is not None:
        check_mode(schedule)  # before any change: a bad value changes nothing
    service = make_provisioner()
    pool = edit_pool(
        service,
        name,
        min=min_,
        max=max_,
        idle_minutes=idle_minutes,
        max_age_minutes=max_age,
        reuse=reuse,
    )
    if schedule is not None:  # #23: after the settings it may depend on (max) are valid
        from provisioner.ops.forecast_service import set_schedule

        line = set_schedule(service, name, schedule)
        if not json_output:
            print(line)
    _print(pool_json(service, pool), json_output)


@pool_app.command("drain")
def drain(name: PoolNameArg, json_output: JsonOpt = False) -> None:
    """Take no new jobs; idle instances go at the next sweep, busy ones after their job."""
    from provisioner.cli.context import make_provisioner
    from provisioner.ops.pools_service import drain_pool

    service = make_provisioner()
    _print(pool_json(service, drain_pool(service, name)), json_output)


@pool_app.command("delete")
def delete(name: PoolNameArg, json_output: JsonOpt = False) -> None:
    """Delete a drained, empty pool (its jobs and costs stay in the ledger)."""
    from provisioner.cli.context import make_provisioner
    from provisioner.ops.pools_service import delete_pool

    service = make_provisioner()
    _print(pool_json(service, delete_pool(service, name)), json_output)


def register(app: typer.Typer) -> None:
    from provisioner.cli import pool_forecast

    pool_forecast.register(pool_app)
    app.add_typer(pool_app, name="pool")
