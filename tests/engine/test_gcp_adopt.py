"""#25: a GCP create cut short (watchdog cancel, crash) left a VM the state only knew as a
pending create; `refresh --clear-pending-creates` forgot it, and the destroy then failed on the
subnetwork "in use" until Compute Engine's termination_time. Now recover() asks Compute Engine
for the instance under its deterministic name and zone (recorded answer, served by a real HTTP
server on 127.0.0.1) and writes it into the state, so the destroy deletes it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from provisioner.engine.pulumi.engine import PulumiEngine
from provisioner.rules.errors import CloudError
from stacks.spec import InstanceSpec

RECORDED = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "leaks" / "gcp-pending-create.json").read_text()
)
INSTANCE_PATH = "/projects/acme-gpu/zones/us-central1-b/instances/provisioner-inst-0001"


@contextmanager
def compute(answers: dict[str, tuple[int, dict[str, Any]]], asked: list[str]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            authorized = self.headers.get("Authorization") == "Bearer gcp-token"
            status, body = answers.get(self.path, (404, {"error": {"code": 404}}))
            if not authorized:
                status, body = 401, {"error": {"status": "UNAUTHENTICATED"}}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gcp_stack(engine: PulumiEngine, cli: Any, make_spec: Callable[..., InstanceSpec]) -> dict:
    """Attempt 2's stack, whose state holds the recorded pending create."""
    spec = make_spec(
        provider="GCP",
        instance_type="g2-standard-4",
        region="us-central1",
        project="acme-gpu",
        attempt=2,
    )
    engine.up(spec, message="m")
    seen: dict[str, Any] = {}

    def import_(cli: Any, call: Any) -> Any:
        seen["imported"] = json.loads(Path(str(call.flag("--file"))).read_text())
        return cli.ok()

    cli.handlers["stack export"] = lambda cli, call: cli.ok(json.dumps(RECORDED["state"]))
    cli.handlers["stack import"] = import_
    cli.handlers["refresh"] = lambda cli, call: cli.ok("Refreshing")
    return seen


def test_gcp_cut_short_create_adopted_by_name(
    engine: PulumiEngine, cli: Any, gcp_stack: dict
) -> None:
    asked: list[str] = []
    with compute({INSTANCE_PATH: (200, RECORDED["instance"])}, asked) as url:
        engine.gcp_api = {"token": lambda: "gcp-token", "base_url": url}
        engine.recover("inst-0001-a2")

    assert asked == [INSTANCE_PATH], "one read, of the instance's own name and zone"
    verbs = cli.verbs()
    assert verbs.index("stack export") < verbs.index("stack import") < verbs.index("refresh")
    deployment = gcp_stack["imported"]["deployment"]
    assert deployment["pending_operations"] == []
    (vm,) = [r for r in deployment["resources"] if r["type"] == "gcp:compute/instance:Instance"]
    assert vm["id"] == "projects/acme-gpu/zones/us-central1-b/instances/provisioner-inst-0001"
    assert vm["urn"].endswith("gcp:compute/instance:Instance::instance")
    assert vm["provider"].startswith(
        "urn:pulumi:inst-0001-a2::gpu-provisioner::pulumi:providers:gcp"
    )


def test_nothing_is_adopted_when_compute_engine_has_no_such_vm(
    engine: PulumiEngine, cli: Any, gcp_stack: dict
) -> None:
    asked: list[str] = []
    with compute({}, asked) as url:
        engine.gcp_api = {"token": lambda: "gcp-token", "base_url": url}
        engine.recover("inst-0001-a2")
    assert asked == [INSTANCE_PATH]
    assert "stack import" not in cli.verbs()
    assert "--clear-pending-creates" in cli.one("refresh").args


def test_when_compute_engine_cannot_be_asked_the_pending_create_is_kept(
    engine: PulumiEngine, cli: Any, gcp_stack: dict
) -> None:
    asked: list[str] = []
    denied = (403, {"error": {"status": "PERMISSION_DENIED"}})
    with compute({INSTANCE_PATH: denied}, asked) as url:
        engine.gcp_api = {"token": lambda: "gcp-token", "base_url": url}
        with pytest.raises(CloudError) as err:
            engine.recover("inst-0001-a2")
    assert err.value.kind == "transient" and "PERMISSION_DENIED" in err.value.message
    assert "refresh" not in cli.verbs()
