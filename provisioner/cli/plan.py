"""`provisioner plan` (and `up --dry-run`, `run --dry-run`): what an up would try, in failover
order, and what it would cost, before anything is created; `up`'s confirmation above a limit."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from provisioner.cli.request_options import JsonOpt, RequestOptions, request_options

if TYPE_CHECKING:
    from provisioner.ops.planning import Plan
    from provisioner.rules.validation import ProvisionRequest


@request_options
def plan(
    simulate: Annotated[bool, typer.Option("--simulate", help="Use the simulated engine.")] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list the candidates beyond --max-attempts.")
    ] = False,
    json_output: JsonOpt = False,
    *,
    options: RequestOptions,
) -> None:
    """Show what `up` would try (candidates in failover order, $/hour, the TTL's projected cost,
    budget headroom, preflight) without creating anything."""
    request = options.to_request(simulate=simulate)
    show_plan(request, simulate=simulate, json_output=json_output, show_all=show_all)


def make_plan(request: ProvisionRequest, *, simulate: bool) -> Plan:
    from provisioner.cli.context import make_provisioner

    return make_provisioner(simulate=simulate).dry_run(request)


def show_plan(
    request: ProvisionRequest, *, simulate: bool, json_output: bool, show_all: bool = False
) -> Plan:
    result = make_plan(request, simulate=simulate)
    if json_output:
        from provisioner.cli.render import print_json

        print_json({"success": True, "plan": result.to_json()})
    else:
        render_plan(result, show_all=show_all)
    return result


def render_plan(result: Plan, *, show_all: bool = False) -> None:
    from rich.table import Table

    from provisioner.cli.render import cell, emit, money, per_hour, say, simulation_banner
    from provisioner.rules.durations import format_minutes

    say(
        f"plan for {result.user_id}: TTL {format_minutes(result.ttl_minutes)} "
        f"(hard lifetime {format_minutes(result.hard_lifetime_minutes)}), "
        f"{result.disk_gb} GB disk, at most {result.max_attempts} attempt(s), "
        f"engine {result.engine}; nothing is created"
    )
    table = Table(show_edge=False, header_style="bold")
    for column in ("#", "PROVIDER", "REGION", "ZONE", "TYPE", "SPOT", "$/HOUR", "TTL COST"):
        table.add_column(column, no_wrap=column in ("REGION", "ZONE", "TYPE"))
    shown = [r for r in result.candidates if show_all or r["attempted"]]
    for row in shown:
        table.add_row(
            str(row["order"]) if row["attempted"] else f"({row['order']})",
            cell(row["provider"].lower()),
            cell(row["region"]),
            cell(row["zone"] or "*"),
            cell(row["instanceType"]),
            "yes" if row["spot"] else "no",
            per_hour(row["costPerHour"]),
            money(row["projectedCost"]),
        )
    emit(table)
    beyond = len(result.candidates) - result.max_attempts
    if beyond > 0:
        say(
            f"{beyond} more candidate(s) beyond --max-attempts {result.max_attempts}"
            + (" (in parentheses)" if show_all else " (--all lists them)")
        )
    say(
        f"projected cost: {money(float(result.projected_cost))} if the first candidate lives "
        f"its whole TTL ({format_minutes(result.ttl_minutes)})"
    )
    budget = result.budget
    if budget is None:
        say(f"budget: none set for {result.user_id}")
    else:
        for name in ("daily", "monthly"):
            part = budget[name]
            if part is not None:
                say(
                    f"budget {name}: {money(part['spent'])} spent of {money(part['limit'])}, "
                    f"{money(part['headroomAfter'])} left after this request"
                )
        if budget["maxInstances"] is not None:
            say(f"budget instances: {budget['liveInstances']} live of {budget['maxInstances']}")
    for check in result.preflight:
        say(f"preflight {check['name']}: {check['state']} {check['detail']}")
    simulation_banner(result.engine)


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def confirm_cost(options: RequestOptions, request: ProvisionRequest, *, simulate: bool) -> None:
    """Ask before an `up` whose TTL may cost more than `confirm_above_usd` (config file or
    PROVISIONER_CONFIRM_ABOVE_USD; default $10), only on a terminal; `--yes` skips it."""
    from provisioner.cli.config_file import resolve

    limit = resolve(options).confirm_above_usd
    result = make_plan(request, simulate=simulate)
    if float(result.projected_cost) <= limit:
        return
    from provisioner.cli.render import err, money

    err.print(
        f"this up may cost {money(float(result.projected_cost))} over its TTL "
        f"(more than the {money(limit)} that asks first; `--yes` skips this)",
        markup=False,
    )
    if not typer.confirm("provision it?", default=False, err=True):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(plan)
