"""Cost commands (#5): cost-report, budget set|show|clear, catalog refresh."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from provisioner.cli.context import parse_when as parse_when  # used by stats and list too
from provisioner.cli.instances import JsonOpt


def cost_report(
    days: Annotated[int, typer.Option(help="The last N UTC days, today included.")] = 30,
    by: Annotated[str, typer.Option(help="Group rows by user, provider, type or day.")] = "user",
    user: Annotated[str | None, typer.Option(help="Only this user's instances.")] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report with charts.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Spend per user, provider, type or day, with a chart of spend per day (--html)."""
    from rich.table import Table

    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import money, out, print_json

    if html is not None and not html.expanduser().parent.is_dir():
        from provisioner.rules.errors import ValidationError

        raise ValidationError(
            "html", f"--html {html}: the directory {html.expanduser().parent} does not exist"
        )
    if html is not None:
        from provisioner.pricing.cost_report_html import require_charts

        require_charts()  # nothing computed or written without the `charts` extra
    service = make_provisioner()
    report = service.cost_report(days=days, by=by.strip().lower(), user_id=user)
    if html is not None:
        from provisioner.ops.forecast_service import demand_charts
        from provisioner.pricing.cost_report_html import render_html
        from provisioner.pricing.forecast_chart import pool_figures

        extra = pool_figures(demand_charts(service))  # #23
        html.expanduser().write_text(render_html(report, extra), encoding="utf-8")
    from provisioner.cli.pool_costs import print_pools
    from provisioner.ops.pool_report import pool_lines

    pools = pool_lines(service, user_id=user)
    if json_output:
        print_json({"success": True, "report": {**report, "pools": pools}})
        return
    table = Table(
        show_edge=False,
        header_style="bold",
        title=f"spend {report['from']} to {report['to']} (UTC), by {report['by']}",
    )
    for column in (report["by"].upper(), "INSTANCES", "COMPUTE", "STORAGE", "TOTAL"):
        table.add_column(column, justify="left" if column == report["by"].upper() else "right")
    for row in report["rows"]:
        table.add_row(
            str(row["key"]),
            str(row["instances"]),
            money(row["compute"]),
            money(row["storage"]),
            money(row["total"]),
        )
    total = report["total"]
    table.add_section()
    table.add_row(
        "all",
        str(total["instances"]),
        money(total["compute"]),
        money(total["storage"]),
        money(total["total"]),
        style="bold",
    )
    out.print(table)
    out.print(f"[dim]{report['definitions']}[/dim]")
    print_pools(pools)
    if html is not None:
        out.print(f"wrote {html}")


budget_app = typer.Typer(help="Spend budgets and instance caps per user.", no_args_is_help=True)


def _budget_lines(b: dict[str, Any]) -> list[str]:
    from provisioner.cli.render import money

    def limit(value: float | None, spent: float) -> str:
        return "none" if value is None else f"{money(value)} (spent {money(spent)})"

    cap = b["maxInstances"]
    return [
        f"{b['userId']}:",
        f"  daily     {limit(b['dailyUsd'], b['spentToday'])}",
        f"  monthly   {limit(b['monthlyUsd'], b['spentThisMonth'])}",
        f"  instances {'no cap' if cap is None else cap} ({b['liveInstances']} live)",
    ]


@budget_app.command("set")
def budget_set(
    user: Annotated[str, typer.Option(help="The user the limits apply to.")],
    daily: Annotated[
        str | None, typer.Option(help="USD per UTC day (projected spend included).")
    ] = None,
    monthly: Annotated[str | None, typer.Option(help="USD per UTC calendar month.")] = None,
    max_instances: Annotated[
        int | None, typer.Option(help="Live instances at once (no terminatedAt).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Set a user's limits (those not given keep their value)."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import out, print_json

    budget = make_provisioner().set_budget(
        user, daily_usd=daily, monthly_usd=monthly, max_instances=max_instances
    )
    if json_output:
        print_json({"success": True, "budget": budget.to_json()})
    else:
        out.print("\n".join(_budget_lines(budget.to_json())))


@budget_app.command("show")
def budget_show(
    user: Annotated[str | None, typer.Option(help="One user (default: every budget).")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Show limits and what was spent today and this month."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import out, print_json

    service = make_provisioner()
    budgets = [service.get_budget(user)] if user else service.list_budgets()
    rows = [b.to_json() for b in budgets]
    if json_output:
        if user:
            print_json({"success": True, "budget": rows[0]})
        else:
            print_json({"success": True, "budgets": rows, "count": len(rows)})
    elif rows:
        out.print("\n".join(line for b in rows for line in _budget_lines(b)))
    else:
        out.print("no budgets")


@budget_app.command("clear")
def budget_clear(
    user: Annotated[str, typer.Option(help="The user whose limits to remove.")],
    json_output: JsonOpt = False,
) -> None:
    """Remove a user's limits."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import out, print_json

    removed = make_provisioner().clear_budget(user)
    message = f"budget of {user} removed" if removed else f"{user} had no budget"
    if json_output:
        print_json({"success": True, "removed": removed, "message": message})
    else:
        out.print(message)


catalog_app = typer.Typer(help="The instance type catalog's prices.", no_args_is_help=True)


@catalog_app.command("refresh")
def catalog_refresh(
    provider: Annotated[
        str | None,
        typer.Option(help="aws, azure or gcp (default: aws and azure; gcp needs ADC)."),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            help="AWS region to price, repeatable (default us-east-1; each is a large "
            "download). Azure prices every catalog region in one query."
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Pull on-demand Linux list prices from AWS's and Azure's public price files, and GCP's
    on-demand and spot prices from the Cloud Billing Catalog API."""
    from provisioner.cli.context import load_settings
    from provisioner.cli.render import err, out, print_json
    from provisioner.pricing.refresh import refresh_catalog
    from provisioner.rules.validation import validate_provider

    providers = (validate_provider(provider),) if provider else ("AWS", "AZURE")
    settings = load_settings()
    gcp_token = None
    if "GCP" in providers:
        from provisioner.engine.pulumi.gcp_auth import GcpAuthError, access_token
        from provisioner.rules.errors import CatalogRefreshError

        try:
            gcp_token = access_token()
        except GcpAuthError as exc:
            raise CatalogRefreshError(f"Catalog refresh failed: {exc}") from None
    result = refresh_catalog(
        settings.ensure_home(),
        gcp_token=gcp_token,
        providers=providers,
        aws_regions=tuple(region or ()),
        on_progress=None if json_output else lambda line: err.print(f"[dim]{line}[/dim]"),
    )
    if json_output:
        print_json({"success": True, "refresh": result.to_json()})
        return
    for change in result.changes:
        out.print(change)
    for missing in result.missing:
        out.print(f"[yellow]{missing}[/yellow]")
    out.print(
        f"{len(result.changes)} price(s) changed, {result.checked} checked; "
        f"wrote {result.path} (prices as of {result.prices_as_of})"
    )


def register(app: typer.Typer) -> None:
    app.command("cost-report")(cost_report)
    app.add_typer(budget_app, name="budget")
    app.add_typer(catalog_app, name="catalog")
