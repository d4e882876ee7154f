"""Terminal and JSON rendering for the CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from provisioner.rules.text import inert as inert  # re-exported for the commands


def _console(*, stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False)
    # Piped or captured: a message is one line, never wrapped at 80 columns mid-sentence (#27).
    # Tables still lay out (emit prints them as plain columns there).
    console.soft_wrap = not console.is_terminal
    return console


out = _console()
err = _console(stderr=True)

SIMULATION_LABEL = "SIMULATION: run under Pulumi mocks; nothing was created in any cloud"


def cell(value: object) -> Text:
    """A table cell or line of data: inert, never read as markup."""
    return Text(inert(value))


def say(text: str, *, style: str | None = None) -> None:
    """One line of output built from data: inert, no markup."""
    out.print(Text(inert(text), style=style or ""), soft_wrap=True)


def emit(table: Table, *, wide: bool = False) -> None:
    """A table on a terminal; when stdout is piped or captured, plain columns: no padding to a
    width, no truncated cells, so scripts (and grep) see every id and region whole.

    `wide` (`--wide`): on a terminal too, every column at its full width, one line per row,
    however narrow the terminal (the terminal wraps or scrolls the long lines itself)."""
    if out.is_terminal and wide:
        for column in table.columns:
            column.no_wrap = True
            column.overflow = "ignore"
        # Console.print's width= is capped at the terminal's: a console as wide as the table.
        Console(
            file=out.file,
            width=_natural_width(table),
            force_terminal=True,
            color_system=out.color_system,  # type: ignore[arg-type]
            no_color=out.no_color,
            highlight=False,
        ).print(table, crop=False)
        return
    if out.is_terminal:
        keep_whole(table)
        out.print(table)
        return
    columns = [[_plain(c.header)] + [_plain(v) for v in c._cells] for c in table.columns]
    if table.title:
        print(_plain(table.title))
    if columns:
        widths = [max(len(v) for v in col) for col in columns]
        for row in zip(*columns, strict=True):
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    if table.caption:
        print(_plain(table.caption))


# Values people copy into the next command: never cut on a narrow terminal (#27).
WHOLE = ("ID", "TYPE", "REGION", "ZONE", "PUBLIC IP", "POOL", "NAME")


def keep_whole(table: Table) -> None:
    """Id, type and region columns keep their full width; the other columns fold first."""
    from rich.cells import cell_len

    for column in table.columns:
        if _plain(column.header) in WHOLE:
            column.no_wrap = True
            values = [_plain(column.header), *(_plain(v) for v in column._cells)]
            column.min_width = max(cell_len(v) for v in values)
        else:
            column.no_wrap = False
            column.overflow = "fold"


def _natural_width(table: Table) -> int:
    """The width the table takes with no column folded."""
    from rich.measure import Measurement

    roomy = out.options.update_width(1_000_000)
    return max(Measurement.get(out, roomy, table).maximum, 1)


def _plain(value: Any) -> str:
    if isinstance(value, Text):
        return inert(value.plain)
    try:
        return inert(Text.from_markup(str(value)).plain)
    except Exception:  # not valid markup: show it as it is
        return inert(value)


def print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2))


def print_json_streamed(
    key: str, items: Iterable[dict[str, Any]], after: Callable[[int], dict[str, Any]]
) -> None:
    """`{"success": true, key: [...], **after(count)}` written while `items` are read, one compact
    line per item: a listing of any size in constant memory, without indent's slow encoder."""
    write = sys.stdout.write
    write(f'{{\n  "success": true,\n  {json.dumps(key)}: [')
    count = 0
    for item in items:
        write(("\n    " if count == 0 else ",\n    ") + json.dumps(item))
        count += 1
    write("\n  ]" if count else "]")
    for name, value in after(count).items():
        write(f",\n  {json.dumps(name)}: {json.dumps(value)}")
    write("\n}\n")


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
    """Money the same way everywhere: cents from $1 up, four decimals below (a short run of a
    cheap type costs fractions of a cent)."""
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def per_hour(price: float, unit: str = "/hour") -> str:
    """An hourly price, the same way everywhere: $0.90/hour, $0.526/hour ($0.90/h in tables)."""
    whole, _, decimals = f"{price:,.4f}".partition(".")
    return f"${whole}.{decimals.rstrip('0').ljust(2, '0')}{unit}"


def instance_table(instances: list[dict[str, Any]]) -> Table:
    simulated = any(i["engine"] == "simulated" for i in instances)
    table = Table(
        show_edge=False,
        header_style="bold",
        caption="* simulated engine: nothing exists in a cloud" if simulated else None,
    )
    for column in ("ID", "STATUS", "TYPE", "PUBLIC IP", "PRICE", "COST", "EXPIRES", "USER"):
        table.add_column(column, no_wrap=column in ("ID", "STATUS", "PUBLIC IP"))
    for i in instances:
        mark = "*" if i["engine"] == "simulated" else ""
        table.add_row(
            cell(i["id"] + mark),
            cell(i["status"]),
            cell(f"{i['instanceType']} {i['region']}"),
            cell(i["publicIp"] or "-"),
            cell(per_hour(i["costPerHour"], "/h")),
            cell(money(i["totalCost"])),
            cell(when_short(i["expiresAt"]) if not i["terminatedAt"] else "-"),
            cell(i["userId"]),
        )
    return table


def instance_details(i: dict[str, Any]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    ended = i["status"] in ("TERMINATED", "FAILED")  # final figures only (#27)
    cost = f"{money(i['totalCost'])}{_split(i)}" + (
        f" final ({_price(i)})" if ended else f" so far at {_price(i)}"
    )
    rows = [
        ("id", i["id"]),
        ("status", i["status"]),
        ("provider / type", f"{i['provider']} {i['instanceType']} in {i['region']}"),
        ("public ip", i["publicIp"] or "-"),
        ("private ip", i["privateIp"] or "-"),
        ("cloud instance id", i["cloudInstanceId"] or "-"),
        ("disk", f"{i['diskSizeGB']} GB"),
        ("cost", cost),
        ("created", when(i["createdAt"])),
    ]
    if not ended:
        rows += [
            ("expires", f"{when(i['expiresAt'])} (auto-terminate {i['autoTerminateMinutes']} min)"),
            ("hard deadline", f"{when(i['hardDeadline'])} (on-VM shutdown)"),
        ]
    rows += [
        ("terminated", when(i["terminatedAt"])),
        ("user / task", f"{i['userId']} / {i['taskId'] or '-'}"),
        ("engine", i["engine"]),
    ]
    if i.get("sshCommand"):
        rows.append(("ssh", i["sshCommand"]))
    if i.get("sshUser"):
        cidrs = ", ".join(i.get("allowedSshCidrs") or []) or "nowhere (no inbound)"
        rows.append(("ssh user / from", f"{i['sshUser']} / {cidrs}"))
    if i.get("sshKeyFingerprint"):
        rows.append(("ssh key", i["sshKeyFingerprint"]))
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
        rows.append(("metadata", ", ".join(f"{k}={human(v)}" for k, v in shown.items())))
    if i.get("tags"):
        rows.append(("tags", ", ".join(f"{k}={v}" for k, v in i["tags"].items())))
    if i.get("purpose"):
        rows.append(("purpose", i["purpose"]))
    if i.get("error"):
        rows.append(("error", i["error"]))
    for key, value in rows:
        table.add_row(key, cell(value), style="red" if key == "error" else None)
    return table


def human(value: Any) -> str:
    """A metadata value as a person reads it: never a Python repr (#24). Nested objects as
    `k v, ...` (money as $), None as '-', a whole float as an integer."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        parts = []
        for k, v in value.items():
            if k in ("compute", "storage", "publicIpv4", "total") and isinstance(
                v, (str, int, float)
            ):
                try:
                    parts.append(f"{k} {money(float(v))}")
                    continue
                except ValueError:
                    pass
            parts.append(f"{k} {human(v)}")
        return "(" + ", ".join(parts) + ")"
    if isinstance(value, (list, tuple)):
        return " ".join(human(v) for v in value) or "-"
    return str(value)


def _split(i: dict[str, Any]) -> str:
    split = i.get("costBreakdown")
    if not split:
        return ""
    ipv4 = split.get("publicIpv4")
    ip = f" + public IPv4 {money(ipv4)}" if ipv4 or i.get("publicIpv4PerHour") else ""
    return f" (compute {money(split['compute'])} + disk {money(split['storage'])}{ip})"


def _price(i: dict[str, Any]) -> str:
    """The hourly price: the VM's, plus its public IPv4 address's where it has one (#24)."""
    ipv4 = i.get("publicIpv4PerHour") or 0
    if not ipv4:
        return per_hour(i["costPerHour"])
    return f"{per_hour(i['costPerHour'])} + public IPv4 {per_hour(ipv4)}"


def simulation_banner(engine: str) -> None:
    if engine == "simulated":
        err.print(f"[yellow]{SIMULATION_LABEL}[/yellow]")
