"""Recorded cloud answers for the preflight tests: the AWS probe program run under Pulumi's mocks
answering its invokes from a fixture, and a real HTTP server on 127.0.0.1 answering ARM's REST
paths from a fixture. Fixtures: tests/data/preflight/*.json."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from provisioner.engine.simulated.mockrun import run_program
from stacks.probes import AwsProbe, aws_program

FIXTURES = Path(__file__).resolve().parent / "data" / "preflight"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


class RecordedAws(Mocks):
    """Answers each invoke with the fixture's recorded result, or raises its recorded error."""

    def __init__(self, invokes: dict[str, Any]):
        self.invokes = invokes
        self.asked: list[str] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        key = args.token
        if args.token.startswith("aws:servicequotas/"):
            key = f"{args.token} {args.args.get('quotaCode')}"
        elif args.token == "aws:ec2/getInstances:getInstances" and any(
            f.get("name") == "instance-lifecycle" for f in args.args.get("filters") or []
        ):
            key = f"{args.token} spot"
        elif args.token == "aws:ec2/getInstance:getInstance":
            key = f"{args.token} {args.args.get('instanceId')}"
        elif args.token == "aws:ec2/getInstanceType:getInstanceType":
            key = f"{args.token} {args.args.get('instanceType')}"
        self.asked.append(key)
        answer = self.invokes.get(key) or self.invokes.get("*")
        if answer is None:
            raise RuntimeError(f"no recorded answer for {key}")
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return dict(answer["result"])


class ReplayRunner:
    """A ProbeRunner: the real probe program, under mocks, with recorded answers."""

    def __init__(self, invokes: dict[str, Any]):
        self.mocks = RecordedAws(invokes)
        self.probes: list[AwsProbe] = []

    def __call__(self, probe: AwsProbe) -> None:
        self.probes.append(probe)
        try:
            run_program(aws_program(probe), self.mocks, stack=f"preflight-{probe.region}")
        except Exception:
            # mockrun re-raises a mock's error even when the program caught it (as the probe
            # does, per check); a real preview would have gone on. Only a probe that recorded
            # nothing failed for real.
            if not probe.results:
                raise


@contextmanager
def arm_server(responses: dict[str, Any]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering `/subscriptions/<id><path>` from `responses`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            prefix = f"/subscriptions/{SUBSCRIPTION}"
            body = responses.get(path[len(prefix) :]) if path.startswith(prefix) else None
            authorized = self.headers.get("Authorization") == "Bearer test-token"
            status = 200 if body is not None and authorized else 404 if authorized else 401
            if body is None or not authorized:
                body = {"error": {"code": "NotFound" if authorized else "Unauthorized"}}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def arm_options(url: str) -> dict[str, Any]:
    return {"token": lambda: "test-token", "base_url": url, "subscription": SUBSCRIPTION}
