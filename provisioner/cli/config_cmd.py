"""`provisioner config show|path`: the request defaults in effect and where each comes from."""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any

import typer

from provisioner.cli.instances import JsonOpt

config_app = typer.Typer(
    help="Config files and profiles: the defaults every command that asks for a VM uses.",
    no_args_is_help=True,
)


def _shown(value: Any) -> str:
    if value is None or value is False or value == []:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@config_app.command("show")
def show(
    profile: Annotated[
        str | None, typer.Option("--profile", help="Show this profile (env PROVISIONER_PROFILE).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Every request option's value in effect and its origin: flag > env > project > user."""
    from provisioner.cli.config_file import project_config_path, resolve, user_config_path
    from provisioner.cli.render import cell, emit, print_json, say
    from provisioner.cli.request_options import RequestOptions

    resolved = resolve(RequestOptions(profile=profile))
    rows = []
    for f in fields(RequestOptions):
        if f.name == "profile":
            continue
        value = getattr(resolved.options, f.name)
        origin = resolved.origins.get(f.name, "not set (the built-in default)")
        rows.append({"key": f.name, "value": value, "origin": origin})
    payload = {
        "profile": resolved.profile,
        "profileOrigin": resolved.profile_origin,
        "userFile": str(user_config_path()),
        "projectFile": str(project_config_path() or ""),
        "filesRead": [str(p) for p in resolved.files],
        "confirmAboveUsd": resolved.confirm_above_usd,
        "confirmAboveUsdOrigin": resolved.confirm_origin,
        "options": [r | {"value": _json_value(r["value"])} for r in rows],
    }
    if json_output:
        print_json({"success": True, "config": payload})
        return
    from rich.table import Table

    say(f"profile: {resolved.profile or '-'} ({resolved.profile_origin})")
    say(f"user file: {payload['userFile']}" + ("" if user_config_path().is_file() else " (none)"))
    say(f"project file: {payload['projectFile'] or 'none found upward from the current dir'}")
    table = Table(show_edge=False, header_style="bold")
    for column in ("OPTION", "VALUE", "ORIGIN"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["key"], cell(_shown(row["value"])), cell(row["origin"]))
    table.add_row(
        "confirm_above_usd", cell(resolved.confirm_above_usd), cell(resolved.confirm_origin)
    )
    emit(table)


def _json_value(value: Any) -> Any:
    from pathlib import Path

    return str(value) if isinstance(value, Path) else value


@config_app.command("path")
def path() -> None:
    """Print the user config file's path and the project file in use (if any)."""
    from provisioner.cli.config_file import project_config_path, user_config_path

    print(user_config_path())
    project = project_config_path()
    if project is not None:
        print(project)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
