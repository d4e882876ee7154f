"""`cost-report`'s pools section (#22): each pool's jobs' cost and its owner's overhead."""

from __future__ import annotations

from typing import Any


def print_pools(lines: list[dict[str, Any]]) -> None:
    """The lines of ops/pool_report.py as a table; nothing when there is no pool."""
    if not lines:
        return
    from rich.table import Table

    from provisioner.cli.render import money, out

    table = Table(
        show_edge=False,
        header_style="bold",
        title="pools, since each was created: jobs + overhead = the pool's instances",
    )
    for column in ("POOL", "OWNER", "JOBS", "JOBS' COST", "OVERHEAD", "TOTAL"):
        table.add_column(column, justify="left" if column in ("POOL", "OWNER") else "right")
    for line in lines:
        table.add_row(
            line["pool"],
            line["owner"],
            str(line["jobs"]),
            money(line["jobsCost"]),
            "—" if line["overhead"] is None else money(line["overhead"]),
            "—" if line["total"] is None else money(line["total"]),
        )
    out.print(table)
