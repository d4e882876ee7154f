"""Terminal and JSON rendering for the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table


def _console(*, stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:  # piped or captured: don't squeeze tables into 80 columns
        console = Console(stderr=stderr, highlight=False, width=160)
    return console


out = _console()
err = _console(stderr=True)

SIMULATION_LABEL = "SIMULATION: run under Pulumi mocks; nothing was created in any cloud"


def print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2))


def when(value: str | datetime | None) -> str:
    if value is None:
        return "-"
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def when_short(value: str | None) -> str:
    return "-" if value is None else when(value)[5:-4] + "Z"


def money(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def instance_table(instances: list[dict[str, Any]]) -> Table:
    simulated = any(i["engine"] == "simulated" for i in instances)
    table = Table(
        show_edge=False,
        header_style="bold",
        caption="* simulated engine: nothing exists in a cloud" if simulated else None,
    )
    for column in ("ID", "STATUS", "TYPE", "PUBLIC IP", "$/H", "COST", "EXPIRES", "USER"):
        table.add_column(column, no_wrap=column in ("ID", "STATUS", "PUBLIC IP"))
    for i in instances:
        mark = "*" if i["engine"] == "simulated" else ""
        table.add_row(
            i["id"] + mark,
            i["status"],
            f"{i['instanceType']} {i['region']}",
            i["publicIp"] or "-",
            f"{i['costPerHour']:g}",
            money(i["totalCost"]),
            when_short(i["expiresAt"]) if not i["terminatedAt"] else "-",
            i["userId"],
        )
    return table


def instance_details(i: dict[str, Any]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("id", i["id"]),
        ("status", i["status"]),
        ("provider / type", f"{i['provider']} {i['instanceType']} in {i['region']}"),
        ("public ip", i["publicIp"] or "-"),
        ("private ip", i["privateIp"] or "-"),
        ("cloud instance id", i["cloudInstanceId"] or "-"),
        ("disk", f"{i['diskSizeGB']} GB"),
        ("cost", f"{money(i['totalCost'])}{_split(i)} so far at ${i['costPerHour']:g}/hour"),
        ("created", when(i["createdAt"])),
        ("expires", f"{when(i['expiresAt'])} (auto-terminate {i['autoTerminateMinutes']} min)"),
        ("hard deadline", f"{when(i['hardDeadline'])} (on-VM shutdown)"),
        ("terminated", when(i["terminatedAt"])),
        ("user / task", f"{i['userId']} / {i['taskId'] or '-'}"),
        ("engine", i["engine"]),
    ]
    if i.get("zone") or i.get("spot"):
        rows.append(("zone", f"{i.get('zone') or '-'}{' (spot)' if i.get('spot') else ''}"))
    for a in i.get("attempts") or []:
        if len(i["attempts"]) > 1 or a["outcome"] != "landed":
            c = a["candidate"]
            where = f"{c['provider'].lower()}/{c['region']}/{c['zone'] or '*'}/{c['instanceType']}"
            why = f": {a['providerCode'] or a['failureClass']}" if a["outcome"] == "failed" else ""
            rows.append((f"attempt {a['number']}", f"{where} {a['outcome']}{why}"))
    shown = {k: v for k, v in (i.get("metadata") or {}).items() if k != "capacity"}
    if shown:
        rows.append(("metadata", ", ".join(f"{k}={v}" for k, v in shown.items())))
    if i.get("tags"):
        rows.append(("tags", ", ".join(f"{k}={v}" for k, v in i["tags"].items())))
    if i.get("purpose"):
        rows.append(("purpose", i["purpose"]))
    if i.get("error"):
        rows.append(("error", i["error"]))
    for key, value in rows:
        table.add_row(key, _escape(str(value)), style="red" if key == "error" else None)
    return table


def _split(i: dict[str, Any]) -> str:
    split = i.get("costBreakdown")
    if not split:
        return ""
    return f" (compute {money(split['compute'])} + disk {money(split['storage'])})"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def simulation_banner(engine: str) -> None:
    if engine == "simulated":
        err.print(f"[yellow]{SIMULATION_LABEL}[/yellow]")
