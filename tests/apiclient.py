"""API test helpers: the seed's request bodies, a client with tokens, a bounded poll."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from provisioner.asgi import create_app
from provisioner.ops.service import Provisioner

SEED_AZURE_BODY: dict[str, Any] = {
    "userId": "user-123",
    "taskId": "task-456",
    "config": {
        "provider": "AZURE",
        "instanceType": "Standard_NC6",
        "region": "eastus",
        "diskSizeGB": 100,
        "autoTerminateMinutes": 60,
        "tags": {"environment": "production", "project": "medical-analysis"},
    },
    "purpose": "Medical Document Analysis",
}
SEED_AWS_BODY: dict[str, Any] = {
    "userId": "user-123",
    "taskId": "batch-789",
    "config": {
        "provider": "AWS",
        "instanceType": "g4dn.xlarge",
        "region": "us-east-1",
        "diskSizeGB": 50,
        "autoTerminateMinutes": 30,
    },
    "purpose": "Batch process 100 patient records",
}


@dataclass
class Api:
    client: TestClient
    app: FastAPI
    service: Provisioner
    user: dict[str, str]  # headers of user-123
    other: dict[str, str]  # headers of user-9
    admin: dict[str, str]  # headers of an admin (user ops)

    def token(self, user: str, *, admin: bool = False) -> dict[str, str]:
        token, _ = self.app.state.api.tokens.create(user, admin=admin)
        return {"Authorization": f"Bearer {token}"}

    def wait_for(
        self, instance_id: str, done: Callable[[dict[str, Any]], bool], headers: dict[str, str]
    ) -> dict[str, Any]:
        """Poll GET like a client after a 202 (bounded; not a timing assertion)."""
        deadline = time.monotonic() + 60
        while True:
            instance = self.client.get(f"/api/instances/{instance_id}", headers=headers).json()[
                "instance"
            ]
            if done(instance) or time.monotonic() > deadline:
                return instance
            time.sleep(0.02)


def settled(instance: dict[str, Any]) -> bool:
    return instance["status"] not in ("PROVISIONING", "CONFIGURING", "STOPPING")


def build_api(service: Provisioner, **app_options: Any) -> Iterator[Api]:
    app_options.setdefault("reaper", False)  # sweeps run only where a test asks for them
    app = create_app(service.settings, service=service, **app_options)
    with TestClient(app) as client:
        api = Api(client, app, service, {}, {}, {})
        api.user = api.token("user-123")
        api.other = api.token("user-9")
        api.admin = api.token("ops", admin=True)
        yield api


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
