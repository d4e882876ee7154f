"""`provisioner pool forecast NAME` (#23): the warm schedule fitted from the pool's history and
its replay beside the alternatives. Registered on `pool` by cli/pools.py."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from provisioner.cli.completion import PoolNameArg
from provisioner.cli.instances import JsonOpt

WeeksOpt = Annotated[int, typer.Option("--weeks", help="Weeks of history to fit (1-12).")]


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def print_report(report: dict[str, Any]) -> None:
    from rich.table import Table

    from provisioner.cli.render import out

    if not report["proposed"]:
        print(f"pool {report['pool']}: {report['reason']}")
        return
    cold = "measured" if report["coldStartMeasured"] else "assumed: no pool VM measured yet"
    print(
        f"pool {report['pool']}: {report['historyDays']} days of history, "
        f"${report['pricePerHour']:.3f}/h, cold start p50 {_minutes(report['coldStartP50Seconds'])}"
        f" p90 {_minutes(report['coldStartP90Seconds'])} ({cold})"
    )
    print(
        "proposed warm minimum per hour of the week (UTC): the "
        f"p{round(report['percentile'] * 100)} of that hour's peak demand over "
        f"{report['weeks']} weeks, clipped to the pool's max, "
        f"applied {report['schedule']['leadSeconds']} s early"
    )
    for line in report["summary"] or ["none: no hour's demand needs a warm VM"]:
        print(f"  {line}")
    jobs = report["replay"][0]["jobs"]
    title = f"the history replayed ({jobs} jobs) through the sweep's own scaling decision"
    table = Table(show_edge=False, header_style="bold", title=title)
    for column in ("", "IDLE/WARM $", "TOTAL $", "WAIT P50", "WAIT P90", "COLD STARTS"):
        table.add_column(column)
    for row in report["replay"]:
        table.add_row(
            row["label"],
            f"{row['idleWarmCost']:.2f}",
            f"{row['totalCost']:.2f}",
            _minutes(row["waitP50Seconds"]),
            _minutes(row["waitP90Seconds"]),
            str(row["coldStarts"]),
        )
    out.print(table)
    if report["suggestedIdleMinutes"] is not None:
        print(
            f"idle timeout: {report['suggestedIdleMinutes']} min would keep an idle VM for 9 in "
            f"10 next jobs (p90 of {report['arrivalGaps']} gaps between arrivals, nights and "
            f"weekends left out); the pool has {report['idleMinutes']} min"
        )
    for flag in report["flaggedDays"]:
        print(f"flagged {flag}")
    name = report["pool"]
    other = "off" if report["scheduleMode"] == "auto" else "auto"
    print(f"schedule: {report['scheduleMode']} (`provisioner pool edit {name} --schedule {other}`)")


def forecast(
    name: PoolNameArg,
    weeks: WeeksOpt = 4,
    json_output: JsonOpt = False,
) -> None:
    """Propose a warm minimum per hour of the week from the pool's job history, and replay the
    history with it beside cold-per-job, the pool's settings, min 0 and a flat min at the peak."""
    from provisioner.cli.context import make_provisioner
    from provisioner.cli.render import print_json
    from provisioner.ops.forecast_service import forecast as make_report

    report = make_report(make_provisioner(), name, weeks=weeks)
    if json_output:
        print_json(report)
    else:
        print_report(report)


def show_line(service: Any, pool: Any) -> None:
    from provisioner.ops.forecast_service import schedule_line

    line = schedule_line(service, pool)
    if line:
        print(f"  {line}")


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast)
