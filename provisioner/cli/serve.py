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
    limit_concurrency: Annotated[
        int,
        typer.Option(min=1, help="Open connections (or requests) beyond which new ones get 503."),
    ] = 1000,
    timeout_keep_alive: Annotated[
        int, typer.Option(min=1, help="Seconds an idle keep-alive connection is kept open.")
    ] = 5,
    timeout_request: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds a request (headers and body) may take to arrive; then the connection "
            "is closed (silent or half-sent requests).",
        ),
    ] = 10.0,
    max_header_bytes: Annotated[
        int, typer.Option(min=1024, help="Largest request line plus headers; else 431.")
    ] = 16384,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers",
            help="Trust X-Forwarded-Proto/-For from --forwarded-allow-ips (uvicorn's option): "
            "behind a TLS proxy, sign-in sees https and cookies are Secure.",
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated proxy addresses (or networks) whose forwarded headers are "
            "trusted (uvicorn's; default 127.0.0.1, '*' for any).",
        ),
    ] = None,
) -> None:
    """Serve the REST API (docs at /docs). Plain HTTP: put TLS in front of it beyond localhost."""
    import logging

    from provisioner.api.server import ConnectionLimits, run
    from provisioner.asgi import create_app
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
    limits = ConnectionLimits(
        keep_alive_seconds=timeout_keep_alive,
        request_timeout_seconds=timeout_request,
        limit_concurrency=limit_concurrency,
        max_header_bytes=max_header_bytes,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    run(app, host=host, port=port, log_level=log_level.lower(), limits=limits)


def register(app: typer.Typer) -> None:
    app.command()(serve)
