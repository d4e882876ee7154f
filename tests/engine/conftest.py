"""A recording Pulumi CLI for the PulumiEngine contract tests.

`RecordingCommand` replaces only the CLI process: the PulumiEngine and the Automation API SDK run
for real and call `run(args, cwd, additional_env, on_output, on_error)` exactly as they would
call the real binary. It records every invocation and answers like the CLI does (same JSON shapes
for `stack output`, `stack history`, `stack ls`; the CLI's own error texts, raised through the
SDK's `create_command_error`), keeping a tiny in-memory backend so select/init/destroy behave.
During `up`/`destroy` it streams engine events to the SDK's `--event-log tcp://...` gRPC server,
as CLIs newer than 3.205 do. Tests change its behaviour per verb through `handlers`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import grpc
import pytest
from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error
from pulumi.runtime.proto import events_pb2, events_pb2_grpc
from semver import VersionInfo

import provisioner.engine.pulumi.engine as pulumi_engine
from provisioner.config import Settings
from provisioner.engine.pulumi.engine import PulumiEngine
from stacks.spec import InstanceSpec

CLI_VERSION = "3.272.0"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000Z"  # the CLI's JSON timestamps
OUTPUTS = {
    "publicIp": "203.0.113.10",
    "privateIp": "10.0.1.23",
    "cloudInstanceId": "i-0123456789abcdef0",
    "metadata": {"ami": "ami-0abc", "availabilityZone": "us-east-1a"},
}


@dataclass
class Call:
    args: list[str]
    cwd: str
    env: dict[str, str]

    @property
    def verb(self) -> str:
        """`stack select`, `stack tag`, `plugin install`, `up`, `destroy`, `cancel`, ..."""
        words = 2 if self.args[0] in ("stack", "plugin", "config") else 1
        return " ".join(self.args[:words])

    def flag(self, name: str) -> str | None:
        return self.args[self.args.index(name) + 1] if name in self.args else None


@dataclass
class FakeStack:
    name: str
    secrets_provider: str | None
    tags: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    resources: int = 0


Handler = Callable[["RecordingCommand", Call], CommandResult]


def fail(stderr: str, stdout: str = "", code: int = 255) -> NoReturn:
    """Fail as the CLI does: a non-zero exit, turned into the SDK's typed CommandError."""
    raise create_command_error(CommandResult(stdout=stdout, stderr=stderr, code=code))


def ok(stdout: str = "") -> CommandResult:
    return CommandResult(stdout=stdout, stderr="", code=0)


def urn(stack: str, type_: str, name: str) -> str:
    return f"urn:pulumi:{stack}::gpu-provisioner::{type_}::{name}"


def step(kind: str, op: str, stack: str, type_: str, name: str) -> dict[str, Any]:
    """A resourcePreEvent / resOutputsEvent / resOpFailedEvent as the CLI serialises it."""
    body: dict[str, Any] = {
        "metadata": {"op": op, "urn": urn(stack, type_, name), "type": type_, "provider": ""}
    }
    if kind == "resOpFailedEvent":
        body.update(status=1, steps=1)
    return {kind: body}


def diagnostic(
    message: str, severity: str = "error", urn_: str = "", ephemeral: bool = False
) -> dict[str, Any]:
    body = {"urn": urn_, "prefix": f"{severity}: ", "message": message + "\n"}
    return {
        "diagnosticEvent": {**body, "color": "never", "severity": severity, "ephemeral": ephemeral}
    }


def send_events(call: Call, events: list[dict[str, Any]]) -> None:
    """Stream events to the SDK's event server named by `--event-log tcp://host:port`."""
    target = call.flag("--event-log")
    assert target and target.startswith("tcp://"), call.args
    requests = [
        events_pb2.EventRequest(event=json.dumps({"sequence": i, "timestamp": 0, **event}))
        for i, event in enumerate([*events, {"cancelEvent": {}}], start=1)
    ]
    with grpc.insecure_channel(target[len("tcp://") :]) as channel:
        events_pb2_grpc.EventsStub(channel).StreamEvents(iter(requests), timeout=10)


class RecordingCommand(PulumiCommand):
    """A PulumiCommand whose `run` records the call and answers like the CLI would."""

    def __init__(self, version: str = CLI_VERSION):
        # Not calling super(): that would run `pulumi version`.
        self.command = "pulumi"
        self.version = VersionInfo.parse(version)
        self.calls: list[Call] = []
        self.stacks: dict[str, FakeStack] = {}
        self.handlers: dict[str, Handler] = {}
        self.tags_supported = True
        self.cancelled = threading.Event()
        self._lock = threading.Lock()

    # The real signature (pulumi/automation/_cmd.py, 3.272): no on_event parameter.
    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Callable[[str], Any] | None = None,
        on_error: Callable[[str], Any] | None = None,
    ) -> CommandResult:
        call = Call(list(args), cwd, dict(additional_env))
        with self._lock:
            self.calls.append(call)
        handler = self.handlers.get(call.verb) or DEFAULT_HANDLERS.get(call.verb)
        if handler is None:
            raise AssertionError(f"unexpected CLI call: pulumi {' '.join(args)}")
        result = handler(self, call)
        if on_output is not None:
            for line in result.stdout.splitlines():
                on_output(line)
        return result

    # Helpers for tests that script their own answers (conftest is not importable).
    fail = staticmethod(fail)
    ok = staticmethod(ok)
    urn = staticmethod(urn)
    step = staticmethod(step)
    diagnostic = staticmethod(diagnostic)
    send_events = staticmethod(send_events)

    # -- what tests look at ----------------------------------------------------------------

    def verbs(self) -> list[str]:
        return [call.verb for call in self.calls]

    def of(self, verb: str) -> list[Call]:
        return [call for call in self.calls if call.verb == verb]

    def one(self, verb: str) -> Call:
        found = self.of(verb)
        assert len(found) == 1, f"expected one `{verb}`, got {self.verbs()}"
        return found[0]

    # -- the fake backend ------------------------------------------------------------------

    def stack(self, call: Call) -> FakeStack:
        name = call.flag("--stack")
        if name not in self.stacks:
            fail(f"error: no stack named '{name}' found")
        return self.stacks[str(name)]

    def record_update(self, stack: FakeStack, kind: str, call: Call, **changes: int) -> None:
        now = datetime(2026, 11, 26, 10, len(stack.updates), tzinfo=UTC)
        stack.updates.append(
            {
                "version": len(stack.updates) + 1,
                "kind": kind,
                "startTime": now.strftime(TIME_FORMAT),
                "message": call.flag("--message") or "",
                "environment": {"exec.kind": "auto.inline"},
                "config": {},
                "result": "succeeded",
                "endTime": now.replace(second=42).strftime(TIME_FORMAT),
                "resourceChanges": changes,
            }
        )


# -- default answers, per verb -------------------------------------------------------------


def _stack_select(cli: RecordingCommand, call: Call) -> CommandResult:
    cli.stack(call)
    return ok()


def _stack_init(cli: RecordingCommand, call: Call) -> CommandResult:
    name = call.args[2]
    if name in cli.stacks:
        fail(f"error: stack '{name}' already exists")
    cli.stacks[name] = FakeStack(name, call.flag("--secrets-provider"))
    return ok(f"Created stack '{name}'")


def _stack_tag(cli: RecordingCommand, call: Call) -> CommandResult:
    stack = cli.stack(call)
    if not cli.tags_supported:
        fail("error: stack tags not supported in diy mode")
    if call.args[2] == "rm":
        stack.tags.pop(call.args[3], None)
        return ok()
    assert call.args[2] == "set", call.args
    stack.tags[call.args[3]] = call.args[4]
    return ok()


def _plugin_install(cli: RecordingCommand, call: Call) -> CommandResult:
    _, _, kind, name, version = call.args
    return ok(f"[{kind} plugin {name}-{version.lstrip('v')}] installing")


def _up(cli: RecordingCommand, call: Call) -> CommandResult:
    stack = cli.stack(call)
    name = stack.name
    vm = "aws:ec2/instance:Instance"
    send_events(
        call,
        [
            {"preludeEvent": {"config": {}}},
            step(
                "resourcePreEvent", "create", name, "pulumi:pulumi:Stack", f"gpu-provisioner-{name}"
            ),
            step("resourcePreEvent", "create", name, vm, "vm"),
            diagnostic("still creating...", severity="info", urn_=urn(name, vm, "vm")),
            diagnostic("ephemeral progress", severity="info", ephemeral=True),
            diagnostic("a warning from the provider", severity="warning"),
            diagnostic("stderr chatter", severity="info#err"),
            step("resOutputsEvent", "create", name, vm, "vm"),
            step(
                "resOutputsEvent", "create", name, "pulumi:pulumi:Stack", f"gpu-provisioner-{name}"
            ),
        ],
    )
    stack.outputs = dict(OUTPUTS)
    stack.resources = 5
    cli.record_update(stack, "update", call, create=5)
    return ok(
        f"Updating ({name}):\n +  pulumi:pulumi:Stack gpu-provisioner-{name} creating\n"
        f' +  aws:ec2:Instance vm created (12s)\n\nOutputs:\n    publicIp: "203.0.113.10"\n\n'
        "Resources:\n    + 5 created\n\nDuration: 21s"
    )


def _destroy(cli: RecordingCommand, call: Call) -> CommandResult:
    stack = cli.stack(call)
    name = stack.name
    send_events(
        call,
        [
            step("resourcePreEvent", "delete", name, "aws:ec2/instance:Instance", "vm"),
            step("resOutputsEvent", "delete", name, "aws:ec2/instance:Instance", "vm"),
        ],
    )
    deleted, stack.resources, stack.outputs = stack.resources, 0, {}
    cli.record_update(stack, "destroy", call, delete=deleted)
    return ok(f"Destroying ({name}):\n\nResources:\n    - {deleted} deleted\n\nDuration: 40s")


def _stack_output(cli: RecordingCommand, call: Call) -> CommandResult:
    return ok(json.dumps(cli.stack(call).outputs, indent=4))


def _stack_history(cli: RecordingCommand, call: Call) -> CommandResult:
    stack = cli.stack(call)
    page_size = int(call.flag("--page-size") or 10)  # the CLI's default page size
    page = int(call.flag("--page") or 1)
    newest_first = list(reversed(stack.updates))
    return ok(json.dumps(newest_first[(page - 1) * page_size : page * page_size], indent=4))


def _stack_ls(cli: RecordingCommand, call: Call) -> CommandResult:
    """`stack ls --json`, filtered by `--tag name=value` as the CLI does."""
    wanted = call.flag("--tag")
    name, _, value = (wanted or "").partition("=")
    return ok(
        json.dumps(
            [
                {
                    "name": stack.name,
                    "current": False,
                    "lastUpdate": stack.updates[-1]["endTime"] if stack.updates else None,
                    "updateInProgress": False,
                    "resourceCount": stack.resources,
                }
                for stack in cli.stacks.values()
                if not wanted or stack.tags.get(name) == value
            ]
        )
    )


def _stack_export(cli: RecordingCommand, call: Call) -> CommandResult:
    """A state with nothing pending (tests of cut-short creates record their own)."""
    cli.stack(call)
    return ok(json.dumps({"version": 3, "deployment": {"resources": []}}))


def _stack_rm(cli: RecordingCommand, call: Call) -> CommandResult:
    """`stack rm --yes S`: refused, as the CLI does, while the stack holds resources."""
    name = call.args[-1]
    if name not in cli.stacks:
        fail(f"error: no stack named '{name}' found")
    if cli.stacks[name].resources:
        fail(
            f"error: '{name}' still has resources; removal rejected. Possible actions:\n"
            "- Make sure that 'gpu-provisioner' is the correct project"
        )
    del cli.stacks[name]
    return ok(f"Stack '{name}' has been removed!")


def _cancel(cli: RecordingCommand, call: Call) -> CommandResult:
    cli.cancelled.set()
    return ok(f"The currently running update for '{call.flag('--stack')}' has been canceled!")


DEFAULT_HANDLERS: dict[str, Handler] = {
    "stack select": _stack_select,
    "stack init": _stack_init,
    "stack tag": _stack_tag,
    "plugin install": _plugin_install,
    "up": _up,
    "destroy": _destroy,
    "stack output": _stack_output,
    "stack history": _stack_history,
    "stack ls": _stack_ls,
    "cancel": _cancel,
    "stack export": _stack_export,
    "stack rm": _stack_rm,
}


# -- fixtures ------------------------------------------------------------------------------

ENV_TO_CLEAR = (
    "PULUMI_BACKEND_URL",
    "PROVISIONER_PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_CONFIG_PASSPHRASE_FILE",
    "PULUMI_ACCESS_TOKEN",
    *(
        f"{prefix}_{name}"
        for prefix in ("ARM", "AZURE")
        for name in ("SUBSCRIPTION_ID", "TENANT_ID", "CLIENT_ID", "CLIENT_SECRET")
    ),
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    # "Once per process" plugin installs: each test starts with a fresh process's view.
    monkeypatch.setattr(pulumi_engine, "_installed_plugins", set())
    yield


@pytest.fixture
def cli() -> RecordingCommand:
    return RecordingCommand()


@pytest.fixture
def engine_home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def engine(engine_home: Path, cli: RecordingCommand) -> PulumiEngine:
    return PulumiEngine(Settings(home=engine_home), pulumi_command=cli)


def _make_spec(**overrides: Any) -> InstanceSpec:
    fields: dict[str, Any] = {
        "instance_id": "inst-0001",
        "provider": "AWS",
        "instance_type": "g4dn.xlarge",
        "region": "us-east-1",
        "disk_gb": 100,
        "expires_at": "2026-11-26T11:00:00Z",
        "hard_deadline": "2026-11-26T14:00:00Z",
        "user_id": "alice",
        "task_id": "task-42",
    }
    fields.update(overrides)
    return InstanceSpec(**fields)


@pytest.fixture
def make_spec() -> Callable[..., InstanceSpec]:
    """InstanceSpec for g4dn.xlarge in us-east-1 (instance "inst-0001"), fields overridable."""
    return _make_spec
