"""What every route needs, built once by `create_app` and handed to routes as a dependency."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from provisioner.api.sse import EventHub
from provisioner.api.stream_limits import StreamLimits
from provisioner.api.throttle import FailureThrottle
from provisioner.api.webhooks import WebhookSender
from provisioner.api.workers import Workers
from provisioner.config import Settings
from provisioner.ledger.idempotency import IdempotencyKeys
from provisioner.ledger.tokens import Tokens
from provisioner.ops.service import Provisioner


@dataclass
class ApiState:
    settings: Settings
    service: Provisioner
    tokens: Tokens
    idempotency: IdempotencyKeys
    workers: Workers
    hub: EventHub
    webhooks: WebhookSender | None = None
    throttle: FailureThrottle = field(default_factory=lambda: FailureThrottle(""))
    streams: StreamLimits = field(default_factory=lambda: StreamLimits(8, lambda _id: True))

    def close(self) -> None:
        self.workers.close()
        if self.webhooks is not None:
            self.webhooks.close()


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state
