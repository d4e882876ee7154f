"""Run a Pulumi program in-process under `pulumi.runtime` mocks and return what it declared.

Each run gets a fresh thread, a copied contextvars context, reset runtime options and its own
event loop (see shared/PULUMI-NOTES.md: `set_mocks` would otherwise reuse the first run's root
stack), so runs can happen one after another or from several threads at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import empty_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_in_stack

_quiet = logging.getLogger("provisioner.mockrun")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


@dataclass
class DeclaredResource:
    urn: str
    type: str
    name: str
    id: str
    inputs: dict[str, Any]
    state: dict[str, Any]


@dataclass
class MockRun:
    outputs: dict[str, Any] = field(default_factory=dict)
    resources: list[DeclaredResource] = field(default_factory=list)
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of_type(self, type_token: str) -> list[DeclaredResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str) -> DeclaredResource:
        found = self.of_type(type_token)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_token}, found {len(found)}")
        return found[0]


class _RecordingMocks(pulumi_mocks.Mocks):
    """Wraps the caller's mocks to record inputs (the monitor only keeps the returned state)."""

    def __init__(self, inner: pulumi_mocks.Mocks, run: MockRun):
        self.inner = inner
        self.run = run
        self.lock = threading.Lock()

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        resource_id, state = self.inner.new_resource(args)
        with self.lock:
            self.run.resources.append(
                DeclaredResource(
                    urn="",
                    type=args.typ,
                    name=args.name,
                    id=resource_id or "",
                    inputs=dict(args.inputs),
                    state=dict(state),
                )
            )
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> Any:
        with self.lock:
            self.run.invokes.append((args.token, dict(args.args)))
        return self.inner.call(args)


class _CapturingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.stack_outputs: dict[str, Any] = {}

    def RegisterResourceOutputs(self, request: Any) -> empty_pb2.Empty:  # noqa: N802 (gRPC name)
        if request.urn.endswith(("pulumi:pulumi:Stack::" + request.urn.rsplit("::", 1)[-1],)):
            self.stack_outputs = dict(rpc.deserialize_properties(request.outputs))
        return empty_pb2.Empty()


def run_program(
    program: Callable[[], None],
    mocks: pulumi_mocks.Mocks,
    *,
    project: str = "gpu-provisioner",
    stack: str = "test",
) -> MockRun:
    """Run `program` under `mocks`; raise whatever the program or a mock raised."""
    run = MockRun()
    failure: list[BaseException] = []

    def in_fresh_context() -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(lambda _loop, _ctx: None)  # failures are re-raised below
        asyncio.set_event_loop(loop)
        try:
            pulumi_settings.reset_options(project=project, stack=stack, preview=False)
            monitor = _CapturingMonitor(_RecordingMocks(mocks, run))
            features = set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures)
            pulumi_settings.configure(
                pulumi_mocks.MockSettings(
                    monitor=monitor,
                    monitor_features=features,
                    engine=pulumi_mocks.MockEngine(_quiet),
                    project=project,
                    stack=stack,
                    dry_run=False,
                    organization=None,
                    callbacks=None,
                )
            )
            loop.run_until_complete(run_in_stack(program))
            run.outputs = monitor.stack_outputs
            urns = {(r.urn.rsplit("::", 1)[-1], r.urn): r for r in monitor.resources.values()}
            for resource in run.resources:
                for name, urn in urns:
                    if name == resource.name and urn.split("::")[2].endswith(resource.type):
                        resource.urn = urn
        except BaseException as exc:
            failure.append(exc)
        finally:
            loop.close()
            asyncio.set_event_loop(None)

    thread = threading.Thread(
        target=lambda: contextvars.copy_context().run(in_fresh_context),
        name=f"pulumi-mock-{stack}",
        daemon=True,
    )
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return run
