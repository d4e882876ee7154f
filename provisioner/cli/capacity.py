"""`provisioner offers`: which types in which regions match a GPU spec, cheapest first (#12)."""

from __future__ import annotations

from typing import Annotated

import typer

from provisioner.cli import completion
from provisioner.cli.instances import JsonOpt
from provisioner.cli.request_options import WideOpt


def offers(
    gpu: Annotated[
        str | None, typer.Option(help="GPU spec: T4:1, A100:8, H100 (any count).")
    ] = None,
    provider: Annotated[str | None, typer.Option(help="aws, azure, gcp or any (default).")] = None,
    region: Annotated[
        str | None, typer.Option(help="Only this region.", autocompletion=completion.regions)
    ] = None,
    spot: Annotated[bool, typer.Option("--spot", help="Order by spot price.")] = False,
    max_price: Annotated[float | None, typer.Option(help="Highest $/hour.")] = None,
    min_gpu_memory: Annotated[int | None, typer.Option(help="GB per GPU.")] = None,
    min_vcpus: Annotated[int | None, typer.Option(help="At least this many vCPUs.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show (table only).")] = 30,
    json_output: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Types and regions matching a GPU spec, cheapest first (retired types excluded)."""
    from rich.table import Table

    from provisioner.capacity.offers import query_offers
    from provisioner.cli.context import load_settings
    from provisioner.cli.render import emit, out, print_json
    from provisioner.cli.spot_advice import expected_cell, expected_note
    from provisioner.rules.catalog import load_catalog

    catalog = load_catalog(home=load_settings().home)
    report = query_offers(
        catalog,
        gpu=gpu,
        provider=provider,
        region=region,
        spot=spot,
        max_price=max_price,
        min_gpu_memory_gb=min_gpu_memory,
        min_vcpus=min_vcpus,
    )
    if spot:  # #23: the expected cost from this ledger's observed preemptions
        from provisioner.cli.spot_advice import add_expected_cost

        add_expected_cost(report)
    if json_output:
        print_json(report)
        return
    caption = f"on-demand prices as of {report['pricesAsOf']}"
    if report["spotPricesAsOf"]:
        caption += f"; spot as of {report['spotPricesAsOf']}"
    table = Table(show_edge=False, header_style="bold", caption=caption)
    columns: tuple[str, ...] = ("PROVIDER", "TYPE", "REGION", "GPU", "GPU GB", "VCPU", "RAM GB")
    columns += ("$/H", "SPOT $/H")
    columns += ("EXPECTED $/H (PREEMPTED)",) if spot else ()
    for column in columns:
        table.add_column(column)
    for o in report["offers"][:limit]:
        spot_price = o["spotCostPerHour"]
        table.add_row(
            o["provider"],
            o["instanceType"],
            o["region"],
            o["gpu"],
            str(o["gpuMemoryGB"]),
            str(o["vcpus"]),
            str(o["ramGB"]),
            f"{o['costPerHour']:.3f}" + ("*" if o["priceEstimated"] else ""),
            "-" if spot_price is None else f"{spot_price:.3f}",
            *((expected_cell(o),) if spot else ()),
        )
    emit(table, wide=wide)
    if spot:
        out.print(expected_note(report["offers"][:limit]))
    if any(o["priceEstimated"] for o in report["offers"][:limit]):
        out.print("* estimate: the catalog has no list price for that region (reference region's)")
    if report["count"] > limit:
        out.print(f"... {report['count'] - limit} more (--limit, --region, --json)")


def register(app: typer.Typer) -> None:
    app.command()(offers)
