"""Fleet-wide commands: stats, types, doctor."""

from __future__ import annotations

from typing import Annotated, Any

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
    """The seed's statistics (definitions in docs/design-choices.md)."""
    from datetime import UTC, datetime

    from provisioner.cli import fastpath
    from provisioner.cli.context import parse_when
    from provisioner.cli.render import money, out, print_json

    window = {"since": parse_when("since", since), "until": parse_when("until", until)}
    found = fastpath.statistics(user_id=user, **window)  # DB-API, no ORM (#21)
    if found is None:  # the ORM path (fastpath.py says when)
        from provisioner.cli.context import load_settings
        from provisioner.ledger.reads import open_ledger, statistics_out
        from provisioner.rules.catalog import load_catalog

        settings = load_settings()
        catalog = load_catalog(home=settings.home)  # a refreshed catalog's billing rules win (#5)
        # The ledger alone, not the service: a read needs no engines or failover (#21).
        found = statistics_out(
            open_ledger(settings),
            billing=catalog.billing,
            now=datetime.now(UTC),
            user_id=user,
            **window,
        ).to_json()
    s = found
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
    provider: Annotated[str | None, typer.Option(help="aws, azure or gcp.")] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list retired types (after the available ones).")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """The instance types you can use: GPU, vCPU, RAM, $/hour, regions (--all: retired too)."""
    from rich.table import Table

    from provisioner.cli.context import load_settings
    from provisioner.cli.render import cell, emit, per_hour, print_json
    from provisioner.rules.catalog import load_catalog
    from provisioner.rules.validation import validate_provider

    catalog = load_catalog(home=load_settings().home)  # a refreshed catalog wins (#5)
    wanted = validate_provider(provider) if provider else None
    listed = catalog.for_provider(wanted)
    rows = [t for t in listed if not t.retired] + [t for t in listed if t.retired and show_all]
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
    for column in ("PROVIDER", "TYPE", "GPU", "VCPU", "RAM GB", "PRICE", "REGIONS", "NOTE"):
        table.add_column(column)
    for t in rows:
        note = t.note or ""
        if t.retired and not note.lower().startswith("retired"):
            note = f"Retired. {note}".strip()
        table.add_row(
            cell(t.provider),
            cell(t.name),
            cell(t.gpu_label()),
            str(t.vcpus),
            str(t.ram_gb),
            per_hour(float(t.price_per_hour)),
            cell(", ".join(t.regions)),
            cell(note),
            style="dim" if t.retired else None,
        )
    if not show_all and any(t.retired for t in listed):
        table.caption = f"{table.caption}; retired types: --all"
    emit(table)


def doctor(
    provider: Annotated[
        list[str] | None,
        typer.Option(help="Check only this cloud (repeatable). Default: those with credentials."),
    ] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Check the simulated engine.")
    ] = False,
    instance_type: Annotated[
        str | None,
        typer.Option(help="Check the clouds' preconditions for an up of this type (its quota)."),
    ] = None,
    region: Annotated[str | None, typer.Option(help="...in this region.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Check the engine, backend, ledger and credentials (never prints secret values)."""
    from provisioner.cli.context import load_settings
    from provisioner.cli.render import print_json, say
    from provisioner.engine import create_engine
    from provisioner.engine.base import DoctorCheck
    from provisioner.engine.preflight_targets import preflight_target
    from provisioner.rules.errors import ProvisionerError
    from provisioner.rules.validation import validate_provider

    wanted = {validate_provider(p) for p in provider or []}
    settings = load_settings(simulate=simulate)
    checks = [DoctorCheck("settings", True, f"data dir {settings.home}, engine {settings.engine}")]
    try:
        from provisioner.ledger.ledger import Ledger

        settings.ensure_home()
        ledger = Ledger(settings.effective_database_url)
        checks.append(
            DoctorCheck("ledger", True, ledger.engine.url.render_as_string(hide_password=True))
        )
        checks.append(_reaper_check(ledger, settings))
    except Exception as exc:  # report, don't crash: this is the diagnosis command
        checks.append(DoctorCheck("ledger", False, str(exc).splitlines()[0]))
    from provisioner.cli.doctor_files import privacy_check

    checks.append(privacy_check(settings.home))
    try:
        engine = create_engine(settings.engine, settings)
        checks.extend(engine.doctor())
        if instance_type:
            for cloud in sorted(wanted) or _providers_of(instance_type):
                target = preflight_target(settings, cloud, region, instance_type)
                checks.extend(engine.preflight(target, cheap=False))
    except ProvisionerError as exc:
        checks.append(DoctorCheck("engine", False, exc.message))
    rows = cloud_scope(checks, wanted)
    ok = all(state != "FAIL" for state, _ in rows)
    if json_output:
        print_json(
            {
                "success": ok,
                "checks": [c.__dict__ | {"state": state.lower()} for state, c in rows],
            }
        )
    else:
        for state, c in rows:
            fix = f" Fix: {c.fix}" if c.fix and state in ("FAIL", "WARN") else ""
            say(f"{state:<14} {c.name}: {c.detail}{fix}")
    if not ok:
        raise typer.Exit(1)


def _reaper_check(ledger: Any, settings: Any) -> Any:
    """A warning, not a failure: the ledger works without a reaper, but expiries then wait for
    `down` or the VMs' deadman."""
    from datetime import UTC, datetime

    from provisioner.engine.base import DoctorCheck
    from provisioner.ops.reaper_watch import overdue, reaper_watch

    now = datetime.now(UTC)
    watch = reaper_watch(ledger, now=now, default_interval=settings.reap_interval_seconds)
    if watch.watching:
        return DoctorCheck("reaper", True, watch.detail)
    late = overdue(ledger, now=now)
    waiting = f"{late} live instance{'s' if late != 1 else ''} past expiry"
    return DoctorCheck(
        "reaper",
        True,
        f"{watch.detail}; {waiting} (expired ones wait for `down` or their VM's deadman)",
        state="WARN",
        fix="keep `provisioner reap` or `provisioner serve` running (docs/reaper.md)",
    )


def cloud_scope(checks: list[Any], wanted: set[str]) -> list[tuple[str, Any]]:
    """(state, check) per check: ok, FAIL, or "not configured" for a cloud nobody asked for
    whose credentials are absent. With `wanted` clouds, only theirs are checked, and a missing
    one fails; without, the clouds that have credentials are the ones in use."""
    rows: list[tuple[str, Any]] = []
    clouds = [c for c in checks if c.name.endswith(" credentials")]
    for c in checks:
        cloud = c.name.removesuffix(" credentials").upper() if c in clouds else None
        if cloud is None:
            rows.append((_state(c), c))
        elif wanted and cloud not in wanted:
            continue
        elif c.ok:
            rows.append(("ok", c))
        else:
            rows.append(("FAIL" if wanted else "not configured", c))
    if clouds and not wanted and not any(c.ok for c in clouds):
        from provisioner.engine.base import DoctorCheck

        names = ", ".join(c.name.split()[0] for c in clouds)
        rows.append(("FAIL", DoctorCheck("clouds", False, f"no cloud has credentials ({names})")))
    return rows


def _state(check: Any) -> str:
    """ok / FAIL, or the preflight lines' own CANNOT CHECK (#13)."""
    if getattr(check, "state", "") in ("CANNOT CHECK", "WARN"):
        return str(check.state)
    return "ok" if check.ok else "FAIL"


def _providers_of(instance_type: str) -> list[str]:
    from provisioner.rules.catalog import load_catalog

    found = load_catalog().find(instance_type)
    return [found.provider] if found else []


def register(app: typer.Typer) -> None:
    app.command()(stats)
    app.command()(types)
    app.command()(doctor)
