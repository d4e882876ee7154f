"""`create_api(settings)`: the REST API's FastAPI app over one `Provisioner`.

The app `serve` runs adds the dashboard to it: `provisioner.asgi.create_app` (the composition
root). This package never imports `web/`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from provisioner.api import (
    routes_costs,
    routes_instances,
    routes_jobs,
    routes_meta,
    routes_offers,
    routes_pools,
)
from provisioner.api.errors import install_error_handlers
from provisioner.api.guard import RequestGuard
from provisioner.api.methods import AllowMiddleware
from provisioner.api.openapi import document_limits
from provisioner.api.sse import EventHub
from provisioner.api.state import ApiState
from provisioner.api.stream_limits import StreamLimits
from provisioner.api.throttle import FailureThrottle
from provisioner.api.webhooks import WebhookSender
from provisioner.api.workers import Workers
from provisioner.config import Settings
from provisioner.ledger.idempotency import IdempotencyKeys
from provisioner.ledger.tokens import Tokens
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import ProvisionerError

log = logging.getLogger(__name__)

DESCRIPTION = """Ephemeral GPU VMs on AWS, Azure and GCP, one Pulumi stack per instance.

Every `/api` route needs `Authorization: Bearer <token>` (`provisioner token create --user U`).
Errors are `{"success": false, "error": {"code", "message"}}`.
"""


def instance_details(service: Provisioner) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Adds the user, task and instance to a webhook's event (run on the delivery thread)."""

    def enrich(payload: dict[str, Any]) -> dict[str, Any]:
        try:
            instance = service.get(str(payload.get("instanceId")))
        except ProvisionerError:
            return payload
        return {
            **payload,
            "userId": instance.user_id,
            "taskId": instance.task_id,
            "instance": instance.to_json(),
        }

    return enrich


def _webhooks(settings: Settings, service: Provisioner) -> WebhookSender | None:
    urls = settings.webhook_url_list
    if not urls:
        return None
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return WebhookSender(urls, secret, enrich=instance_details(service))


def create_api(
    settings: Settings,
    *,
    service: Provisioner | None = None,
    webhooks: WebhookSender | None = None,
    reaper: bool | None = None,
    pickup: bool = True,
) -> FastAPI:
    """The app. `webhooks` replaces the sender built from the PROVISIONER_WEBHOOK_* settings;
    `reaper` (default `settings.serve_reaper`) runs the reaper's sweeps while the app runs;
    `pickup` runs queued ups and takes over those of dead replicas (`api/pickup.py`)."""
    service = service or Provisioner(settings)
    state = ApiState(
        settings=settings,
        service=service,
        tokens=Tokens(service.ledger, service.clock),
        idempotency=IdempotencyKeys(service.ledger, service.clock),
        workers=Workers(service, settings.max_parallel),
        hub=EventHub(),
        throttle=FailureThrottle(settings.auth_failure_limit),
        webhooks=webhooks or _webhooks(settings, service),
    )
    state.streams = StreamLimits(
        settings.max_streams_per_token, state.tokens.is_active, settings.status_change_limit
    )
    service.on("*", state.hub.publish)
    if state.webhooks is not None:
        service.on("*", state.webhooks.send)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop_reaper = None
        if settings.serve_reaper if reaper is None else reaper:
            from provisioner.ops.reaper import start_reaper

            stop_reaper = start_reaper(service, take_over_ups=not pickup)
        stop_pickup = None
        if pickup:
            from provisioner.api.pickup import start_pickup

            stop_pickup = start_pickup(
                service, state.workers, interval=settings.pickup_interval_seconds
            )
        yield
        for stop in (stop_reaper, stop_pickup):
            if stop is not None:
                stop.set()
        state.close()

    app = FastAPIOffline(  # Swagger UI and ReDoc served from packaged files, never a CDN
        title="provisioner",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.api = state
    app.add_middleware(
        RequestGuard,
        verify=state.tokens.verify,
        max_body_bytes=settings.max_body_bytes,
        rate_limit=settings.rate_limit,
        throttle=state.throttle,
        # POST /api/jobs carries a workdir (base64 tar.gz: 4/3 of its bytes) in its JSON body.
        body_limits={
            "/api/jobs": (
                settings.max_body_bytes + settings.max_workdir_bytes * 4 // 3 + 4,
                "PROVISIONER_MAX_BODY_BYTES + base64 of PROVISIONER_MAX_WORKDIR_BYTES",
            )
        },
    )
    app.add_middleware(AllowMiddleware, routes_of=app)
    install_error_handlers(app)
    document_limits(app, settings, service.catalog)
    app.include_router(routes_instances.router)
    app.include_router(routes_meta.router)
    app.include_router(routes_costs.router)
    app.include_router(routes_offers.router)
    app.include_router(routes_pools.router)
    app.include_router(routes_jobs.router)
    return app
