"""`provisioner serve`: the REST API under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Provision with the simulated engine.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the REST API (docs at /docs). Plain HTTP: put TLS in front of it beyond localhost."""
    import logging

    import uvicorn

    from provisioner.api.app import create_app
    from provisioner.cli.context import load_settings
    from provisioner.cli.render import err, simulation_banner

    settings = load_settings(simulate=simulate)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    simulation_banner(settings.engine)
    err.print(
        f"provisioner API on http://{host}:{port} (engine {settings.engine}, "
        f"{settings.max_parallel} parallel operations); docs at /docs"
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), proxy_headers=False)


def register(app: typer.Typer) -> None:
    app.command()(serve)
