"""Fleet-wide commands: stats, types, doctor."""

from __future__ import annotations

from typing import Annotated

import typer

from provisioner.cli.instances import JsonOpt


def stats(
    user: Annotated[str | None, typer.Option(help="Only this user's instances.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only instances created at or after (date or ISO time).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only instances created before (date or ISO time).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """The seed's statistics (definitions in the README)."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.costs import parse_when
    from provisioner.cli.render import money, out, print_json

    window = {"since": parse_when("since", since), "until": parse_when("until", until)}
    s = make_provisioner().statistics(user, **window).to_json()
    if json_output:
        print_json({"success": True, "statistics": s})
        return
    out.print(f"instances provisioned   {s['totalProvisioned']}")
    out.print(f"holding resources now   {s['currentlyRunning']}")
    out.print(f"total cost              {money(s['totalCost'])}")
    if s.get("costBreakdown"):
        split = s["costBreakdown"]
        out.print(f"  compute / storage     {money(split['compute'])} / {money(split['storage'])}")
    out.print(f"average duration        {s['averageDuration']:.2f} h")
    out.print(f"average cost            {money(s['averageCost'])}")
    if s["providerBreakdown"]:
        out.print(
            "by provider             "
            + ", ".join(f"{k} {v}" for k, v in s["providerBreakdown"].items())
        )
    if s["instanceTypeBreakdown"]:
        out.print(
            "by type                 "
            + ", ".join(f"{k} {v}" for k, v in s["instanceTypeBreakdown"].items())
        )


def types(
    provider: Annotated[str | None, typer.Option(help="aws or azure.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """The instance type catalog: GPU, vCPU, RAM, $/hour, regions."""
    from rich.table import Table

    from provisioner.cli.context import load_settings
    from provisioner.cli.render import out, print_json
    from provisioner.rules.catalog import load_catalog
    from provisioner.rules.validation import validate_provider

    catalog = load_catalog(home=load_settings().home)  # a refreshed catalog wins (#5)
    wanted = validate_provider(provider) if provider else None
    rows = catalog.for_provider(wanted)
    if json_output:
        print_json(
            {
                "success": True,
                "pricesAsOf": catalog.prices_as_of,
                "instanceTypes": [t.to_json() for t in rows],
                "count": len(rows),
            }
        )
        return
    table = Table(
        show_edge=False,
        header_style="bold",
        caption=f"on-demand Linux list prices as of {catalog.prices_as_of}",
    )
    for column in ("PROVIDER", "TYPE", "GPU", "VCPU", "RAM GB", "$/HOUR", "REGIONS", "NOTE"):
        table.add_column(column)
    for t in rows:
        note = f"[red]retired[/red] {t.note or ''}" if t.retired else (t.note or "")
        table.add_row(
            t.provider,
            t.name,
            t.gpu_label(),
            str(t.vcpus),
            str(t.ram_gb),
            f"{t.price_per_hour:.3f}",
            ", ".join(t.regions[:4]) + (" …" if len(t.regions) > 4 else ""),
            note,
        )
    out.print(table)


def doctor(
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Check the simulated engine.")
    ] = False,
    provider: Annotated[
        str | None, typer.Option(help="Check this cloud's preconditions for an up (aws|azure).")
    ] = None,
    instance_type: Annotated[
        str | None, typer.Option(help="...for this type (its family's vCPU quota).")
    ] = None,
    region: Annotated[str | None, typer.Option(help="...in this region.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Check the engine, backend, ledger and credentials (never prints secret values)."""
    from rich.markup import escape

    from provisioner.cli.context import load_settings
    from provisioner.cli.render import out, print_json
    from provisioner.engine import create_engine
    from provisioner.engine.base import DoctorCheck
    from provisioner.engine.preflight_targets import preflight_target
    from provisioner.rules.errors import ProvisionerError

    settings = load_settings(simulate=simulate)
    checks = [DoctorCheck("settings", True, f"data dir {settings.home}, engine {settings.engine}")]
    try:
        from provisioner.ledger.ledger import Ledger

        settings.ensure_home()
        ledger = Ledger(settings.effective_database_url)
        checks.append(
            DoctorCheck("ledger", True, ledger.engine.url.render_as_string(hide_password=True))
        )
    except Exception as exc:  # report, don't crash: this is the diagnosis command
        checks.append(DoctorCheck("ledger", False, str(exc).splitlines()[0]))
    try:
        engine = create_engine(settings.engine, settings)
        checks.extend(engine.doctor())
        if provider:
            target = preflight_target(settings, provider, region, instance_type)
            checks.extend(engine.preflight(target, cheap=False))
    except ProvisionerError as exc:
        checks.append(DoctorCheck("engine", False, exc.message))
    ok = all(c.ok for c in checks)
    if json_output:
        print_json({"success": ok, "checks": [c.to_json() for c in checks]})
    else:
        marks = {"PASS": "[green]PASS[/green]", "FAIL": "[red]FAIL[/red]"}
        for c in checks:
            mark = marks.get(c.status, "[yellow]CANNOT CHECK[/yellow]")
            fix = f" [bold]Fix:[/bold] {escape(c.fix)}" if c.fix and not c.ok else ""
            out.print(f"{mark} {c.name}: {escape(c.detail)}{fix}")
    if not ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(stats)
    app.command()(types)
    app.command()(doctor)
