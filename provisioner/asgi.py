"""The composition root: the ASGI app `provisioner serve` runs, the REST API (`api/`) with the
dashboard (`web/`) mounted on it. The only module that imports both; `api/` never imports `web/`.

May import: any part of the package but the CLI."""

from __future__ import annotations

from fastapi import FastAPI

from provisioner.api.app import create_api
from provisioner.api.webhooks import WebhookSender
from provisioner.config import Settings
from provisioner.ops.service import Provisioner
from provisioner.web.app import mount as mount_dashboard


def create_app(
    settings: Settings,
    *,
    service: Provisioner | None = None,
    webhooks: WebhookSender | None = None,
    reaper: bool | None = None,
    pickup: bool = True,
) -> FastAPI:
    """The API and the dashboard over one `Provisioner`; the arguments are `create_api`'s."""
    app = create_api(settings, service=service, webhooks=webhooks, reaper=reaper, pickup=pickup)
    mount_dashboard(app)
    return app
