"""Contract tests for PulumiEngine: the engine and the Automation API SDK run for real; only the
Pulumi CLI process is replaced by the recording command (see conftest.py), so these tests pin
the CLI invocations, the environment each one gets, and how CLI failures are mapped."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.error import URLError

import pytest
import yaml
from pulumi.automation import CommandError, PulumiCommand

from provisioner.config import Settings
from provisioner.engine.base import Engine, EngineEvent, StackOutputs
from provisioner.engine.pulumi.cli import CliCommand
from provisioner.engine.pulumi.engine import PulumiEngine
from provisioner.rules.errors import (
    DestroyFailedError,
    EngineUnavailableError,
    ProvisioningFailedError,
)
from stacks.spec import InstanceSpec

Spec = Callable[..., InstanceSpec]


def plugin_version(package: str) -> str:
    text = resources.files(package).joinpath("pulumi-plugin.json").read_text()
    return "v" + json.loads(text)["version"]


def test_is_an_engine(engine: PulumiEngine) -> None:
    assert isinstance(engine, Engine)
    assert (engine.name, engine.simulated) == ("pulumi", False)


# -- up ------------------------------------------------------------------------------------


def test_up_runs_the_expected_cli_sequence(
    engine: PulumiEngine, cli: Any, make_spec: Spec, engine_home: Path
) -> None:
    outputs = engine.up(make_spec(), message="provisioner up inst-0001")

    assert cli.verbs() == [
        "plugin install",
        "stack select",  # not found ...
        "stack init",  # ... so created
        "stack tag",
        "stack tag",
        "stack tag",
        "stack tag",  # provisioner:live, until a destroy succeeds (#13)
        "up",
        "stack output",  # the SDK reads outputs after up: masked, then --show-secrets
        "stack output",
        "stack history",  # and the update's summary
    ]
    assert cli.one("plugin install").args == [
        "plugin", "install", "resource", "aws", plugin_version("pulumi_aws"),
    ]  # fmt: skip
    assert cli.of("stack select")[0].args == ["stack", "select", "--stack", "inst-0001"]
    assert cli.one("stack init").args == [
        "stack", "init", "inst-0001", "--secrets-provider", "passphrase",
    ]  # fmt: skip
    assert [c.args for c in cli.of("stack tag")] == [
        ["stack", "tag", "set", "provisioner:user-id", "alice", "--stack", "inst-0001"],
        ["stack", "tag", "set", "provisioner:task-id", "task-42", "--stack", "inst-0001"],
        ["stack", "tag", "set", "provisioner:instance-id", "inst-0001", "--stack", "inst-0001"],
        ["stack", "tag", "set", "provisioner:live", "true", "--stack", "inst-0001"],
    ]
    up = cli.one("up").args
    assert up[:3] == ["up", "--yes", "--skip-preview"]
    assert up[up.index("--message") + 1] == "provisioner up inst-0001"
    assert up[up.index("--color") + 1] == "never"
    assert up[up.index("--exec-kind") + 1] == "auto.inline"
    assert any(arg.startswith("--client=127.0.0.1:") for arg in up)  # the inline program's server
    assert up[up.index("--event-log") + 1].startswith("tcp://127.0.0.1:")
    assert up[-2:] == ["--stack", "inst-0001"]
    assert "stack rm" not in cli.verbs()

    assert outputs == StackOutputs(
        public_ip="203.0.113.10",
        private_ip="10.0.1.23",
        cloud_instance_id="i-0123456789abcdef0",
        metadata={"ami": "ami-0abc", "availabilityZone": "us-east-1a"},
    )
    work_dir = engine_home / "workspaces" / "inst-0001"
    assert {call.cwd for call in cli.calls} == {str(work_dir)}
    project = yaml.safe_load((work_dir / "Pulumi.yaml").read_text())
    assert project["name"] == "gpu-provisioner"
    assert project["runtime"] == "python"
    assert project["backend"]["url"] == (engine_home / "pulumi-state").as_uri()


def test_up_relays_engine_events(engine: PulumiEngine, make_spec: Spec) -> None:
    seen: list[EngineEvent] = []
    engine.up(make_spec(), message="m", on_event=seen.append)

    vm = [e for e in seen if e.resource_type == "aws:ec2/instance:Instance"]
    resource_steps = [(e.kind, e.op, e.status, e.resource_name) for e in vm if e.kind == "resource"]
    assert resource_steps == [
        ("resource", "create", "started", "vm"),
        ("resource", "create", "done", "vm"),
    ]
    diagnostics = [(e.message, e.severity) for e in seen if e.kind == "diagnostic"]
    assert diagnostics == [
        ("still creating...", "info"),
        ("a warning from the provider", "warning"),
        ("stderr chatter", "info"),  # info#err is still info
    ]  # the ephemeral one is dropped
    assert next(e for e in seen if e.kind == "diagnostic").resource_name == "vm"


def test_a_failing_event_callback_does_not_break_up(engine: PulumiEngine, make_spec: Spec) -> None:
    def explode(event: EngineEvent) -> None:
        raise RuntimeError("consumer bug")

    assert engine.up(make_spec(), message="m", on_event=explode).public_ip == "203.0.113.10"


def test_an_existing_stack_is_selected_and_the_plugin_installed_once(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    engine.up(make_spec(), message="first")
    engine.up(make_spec(), message="again")
    engine.up(make_spec(instance_id="inst-0002"), message="another")

    assert len(cli.of("plugin install")) == 1
    assert [c.args[2] for c in cli.of("stack init")] == ["inst-0001", "inst-0002"]


def test_azure_uses_its_plugin(engine: PulumiEngine, cli: Any, make_spec: Spec) -> None:
    engine.up(make_spec(provider="AZURE", instance_type="Standard_NC4as_T4_v3", region="eastus"),
              message="m")  # fmt: skip
    assert cli.one("plugin install").args == [
        "plugin", "install", "resource", "azure-native", plugin_version("pulumi_azure_native"),
    ]  # fmt: skip


def test_gcp_uses_its_plugin_and_the_configured_project(
    cli: Any, make_spec: Spec, engine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import provisioner.engine.pulumi.engine as pulumi_engine

    seen: list[InstanceSpec] = []
    real = pulumi_engine.program_for
    monkeypatch.setattr(pulumi_engine, "program_for", lambda spec: seen.append(spec) or real(spec))
    gcp = PulumiEngine(Settings(home=engine_home, gcp_project="my-project"), pulumi_command=cli)
    gcp.up(make_spec(provider="GCP", instance_type="g2-standard-4", region="us-central1"),
           message="m")  # fmt: skip
    assert cli.one("plugin install").args == [
        "plugin", "install", "resource", "gcp", plugin_version("pulumi_gcp"),
    ]  # fmt: skip
    assert [s.project for s in seen] == ["my-project"]


def test_gcp_without_a_project_fails_before_any_stack_exists(
    engine: PulumiEngine, cli: Any, make_spec: Spec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("CLOUDSDK_CONFIG", raising=False)
    with pytest.raises(EngineUnavailableError, match="PROVISIONER_GCP_PROJECT"):
        engine.up(make_spec(provider="GCP", instance_type="g2-standard-4", region="us-central1"),
                  message="m")  # fmt: skip
    assert cli.verbs() == []


def test_stack_tag_values_are_truncated_and_empty_ones_skipped(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    engine.up(make_spec(task_id=None, user_id="u" * 300), message="m")
    tags = {c.args[3]: c.args[4] for c in cli.of("stack tag")}
    assert tags == {
        "provisioner:user-id": "u" * 256,
        "provisioner:instance-id": "inst-0001",
        "provisioner:live": "true",
    }
    assert all(len(name) <= 40 for name in tags)


def test_backends_without_stack_tags_still_provision(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    cli.tags_supported = False  # DIY backends in CLIs before stack tags came to them
    assert engine.up(make_spec(), message="m").cloud_instance_id == "i-0123456789abcdef0"
    assert len(cli.of("stack tag")) == 1  # gave up after the first refusal


# -- environment: backend, passphrase, credentials ------------------------------------------


def test_every_call_gets_the_backend_and_a_passphrase_file_never_the_passphrase(
    engine: PulumiEngine, cli: Any, make_spec: Spec, engine_home: Path
) -> None:
    engine.up(make_spec(), message="m")
    engine.destroy("inst-0001", message="down")

    passphrase_file = engine_home / "pulumi-passphrase"
    assert stat.S_IMODE(passphrase_file.stat().st_mode) == 0o600
    passphrase = passphrase_file.read_text()
    assert len(passphrase) >= 32
    backend = (engine_home / "pulumi-state").as_uri()
    assert (engine_home / "pulumi-state").is_dir()
    for call in cli.calls:
        assert call.env["PULUMI_BACKEND_URL"] == backend
        assert call.env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(passphrase_file)
        assert "PULUMI_CONFIG_PASSPHRASE" not in call.env
        assert all(passphrase not in value for value in call.env.values())
        assert all(passphrase not in arg for arg in call.args)
    # The file is made once and kept: a second engine uses the same passphrase.
    PulumiEngine(Settings(home=engine_home), pulumi_command=cli).outputs("inst-0001")
    assert passphrase_file.read_text() == passphrase


def test_a_users_passphrase_wins(
    engine: PulumiEngine, cli: Any, make_spec: Spec, engine_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "users-own-secret")
    engine.up(make_spec(), message="m")
    assert not (engine_home / "pulumi-passphrase").exists()
    for call in cli.calls:  # inherited from os.environ by the CLI process, never copied
        assert "PULUMI_CONFIG_PASSPHRASE_FILE" not in call.env
        assert "users-own-secret" not in call.env.values()


def test_azure_variables_are_passed_as_arm_unless_set(
    engine: PulumiEngine, cli: Any, make_spec: Spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "sub-123")
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-from-azure")
    monkeypatch.setenv("AZURE_CLIENT_ID", "client-123")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("ARM_TENANT_ID", "tenant-already-arm")

    engine.up(make_spec(provider="AZURE", region="eastus"), message="m")

    env = cli.one("up").env
    assert env["ARM_SUBSCRIPTION_ID"] == "sub-123"
    assert env["ARM_CLIENT_ID"] == "client-123"
    assert env["ARM_CLIENT_SECRET"] == "s3cr3t-value"
    assert "ARM_TENANT_ID" not in env  # the user's ARM_* stays, inherited unchanged


@pytest.mark.parametrize(
    ("url", "secrets_provider"),
    [
        ("https://api.pulumi.com", None),
        ("s3://my-state-bucket/provisioner?region=us-east-1", "passphrase"),
        ("azblob://state-container", "passphrase"),
    ],
)
def test_other_backends_pass_through_unchanged(
    url: str,
    secrets_provider: str | None,
    cli: Any,
    make_spec: Spec,
    engine_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A shared DIY backend needs one passphrase for every process (#13): given here, so the
    # engine generates none of its own.
    shared = engine_home.parent / "shared-passphrase"
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(shared))
    engine = PulumiEngine(Settings(home=engine_home, pulumi_backend_url=url), pulumi_command=cli)
    engine.up(make_spec(), message="m")

    init = cli.one("stack init").args
    assert init.count("--secrets-provider") == (1 if secrets_provider else 0)
    assert all(call.env["PULUMI_BACKEND_URL"] == url for call in cli.calls)
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" not in cli.one("up").env  # inherited, not generated
    assert cli.one("up").env["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true"
    assert not (engine_home / "pulumi-passphrase").exists()
    assert not (engine_home / "pulumi-state").exists()


@pytest.mark.parametrize("url", ["s3://my-state-bucket/provisioner", "azblob://state-container"])
def test_a_shared_backend_without_a_shared_passphrase_is_refused_before_any_stack(
    url: str, cli: Any, make_spec: Spec, engine_home: Path
) -> None:
    engine = PulumiEngine(Settings(home=engine_home, pulumi_backend_url=url), pulumi_command=cli)
    with pytest.raises(EngineUnavailableError) as err:
        engine.up(make_spec(), message="m")
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" in err.value.message
    assert "awskms://" in err.value.message
    assert "stack init" not in cli.verbs()


def test_a_kms_secrets_provider_is_used_as_configured(
    cli: Any, make_spec: Spec, engine_home: Path
) -> None:
    settings = Settings(
        home=engine_home,
        pulumi_backend_url="s3://my-state-bucket/provisioner",
        pulumi_secrets_provider="awskms://alias/provisioner?region=us-east-1",
    )
    PulumiEngine(settings, pulumi_command=cli).up(make_spec(), message="m")
    init = cli.one("stack init")
    assert init.flag("--secrets-provider") == "awskms://alias/provisioner?region=us-east-1"
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" not in cli.one("up").env


# -- failures ------------------------------------------------------------------------------

AWS_CAPACITY = (
    "sdk-v2/provider2.go:520: sdk.helper_schema: creating EC2 Instance: operation error EC2: "
    "RunInstances, https response error StatusCode: 500, RequestID: 5f1c2d7e-1111-2222-3333-"
    "444455556666, api error InsufficientInstanceCapacity: We currently do not have sufficient "
    "g4dn.xlarge capacity in the Availability Zone you requested (us-east-1a). Our system will "
    "be working on provisioning additional capacity.: provider=aws@7.51.0"
)
AWS_QUOTA = (
    "sdk-v2/provider2.go:520: sdk.helper_schema: creating EC2 Instance: operation error EC2: "
    "RunInstances, https response error StatusCode: 400, RequestID: 0b7e, api error "
    "VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit of 0 "
    "allows for the instance bucket that the specified instance type belongs to.: "
    "provider=aws@7.51.0"
)
AZURE_QUOTA = (
    'Status=409 Code="OperationNotAllowed" Message="Operation could not be completed as it '
    "results in exceeding approved standardNCASv3_T4Family Cores quota. Location: eastus, "
    'Current Limit: 0, Current Usage: 0, Additional Required: 4."'
)


def failed_up_output(stack: str, provider_error: str) -> tuple[str, str]:
    """(stdout, stderr) shaped like a failed `pulumi up --color never`."""
    stdout = (
        f"Updating ({stack}):\n"
        f" +  pulumi:pulumi:Stack gpu-provisioner-{stack} creating (0s)\n"
        f" +  aws:ec2:Instance vm creating (1s) error: {provider_error}\n"
        f" +  aws:ec2:Instance vm **creating failed** error: {provider_error}\n"
        "Diagnostics:\n"
        "  aws:ec2:Instance (vm):\n"
        f"    error: {provider_error}\n\n"
        f"  pulumi:pulumi:Stack (gpu-provisioner-{stack}):\n"
        "    error: update failed\n\n"
        "Resources:\n    + 4 created\n    1 errored\n\nDuration: 6s"
    )
    stderr = f"error: {provider_error}\nerror: update failed"
    return stdout, stderr


def failing_up(provider_error: str, *, with_events: bool) -> Callable[[Any, Any], Any]:
    def handler(cli: Any, call: Any) -> Any:
        stack = call.flag("--stack")
        vm = "aws:ec2/instance:Instance"
        if with_events:
            cli.send_events(call, [
                cli.step("resourcePreEvent", "create", stack, vm, "vm"),
                cli.diagnostic(provider_error, urn_=cli.urn(stack, vm, "vm")),
                cli.step("resOpFailedEvent", "create", stack, vm, "vm"),
                cli.diagnostic("update failed"),
            ])  # fmt: skip
        stdout, stderr = failed_up_output(stack, provider_error)
        cli.fail(stderr, stdout)

    return handler


@pytest.mark.parametrize("with_events", [True, False])
def test_capacity_failure_is_classified_with_the_providers_line(
    with_events: bool, engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    cli.handlers["up"] = failing_up(AWS_CAPACITY, with_events=with_events)
    seen: list[EngineEvent] = []

    with pytest.raises(ProvisioningFailedError) as caught:
        engine.up(make_spec(), message="m", on_event=seen.append)

    error = caught.value
    assert (error.kind, error.provider_code, error.retryable) == (
        "capacity", "InsufficientInstanceCapacity", False,
    )  # fmt: skip
    assert error.message.startswith("creating EC2 Instance: operation error EC2: RunInstances")
    assert "InsufficientInstanceCapacity: We currently do not have sufficient" in error.message
    assert "provider=aws" not in error.message
    assert "\n" not in error.message
    assert "Diagnostics" not in error.message and "stdout" not in error.message
    if with_events:
        failed = [e for e in seen if e.status == "failed"]
        assert [(e.op, e.resource_name) for e in failed] == [("create", "vm")]
    assert "destroy" not in cli.verbs()  # the service decides what to do with the wreck


@pytest.mark.parametrize(
    ("provider_error", "code"),
    [(AWS_QUOTA, "VcpuLimitExceeded"), (AZURE_QUOTA, "OperationNotAllowed")],
)
def test_quota_failures_are_classified(
    provider_error: str, code: str, engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    cli.handlers["up"] = failing_up(provider_error, with_events=True)
    with pytest.raises(ProvisioningFailedError) as caught:
        engine.up(make_spec(), message="m")
    assert (caught.value.kind, caught.value.provider_code) == ("quota", code)
    assert code in caught.value.message


def test_a_locked_stack_is_a_transient_failure(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    cli.handlers["up"] = lambda cli, call: cli.fail(
        "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) "
        "to end or delete the lock file with `pulumi cancel`.\n  file:///x/.pulumi/locks/"
        "organization/gpu-provisioner/inst-0001/1.json: created by bob@host (pid 4242) at "
        "2026-11-26T10:00:00Z"
    )
    with pytest.raises(ProvisioningFailedError) as caught:
        engine.up(make_spec(), message="m")
    assert caught.value.kind == "transient"
    assert caught.value.retryable
    assert "locked" in caught.value.message


def test_a_program_error_is_reported_as_the_programs(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    cli.handlers["up"] = lambda cli, call: cli.fail(
        "error: an unhandled error occurred: python inline source runtime error",
        stdout=(
            "Updating (inst-0001):\n"
            "    error: python inline source runtime error: the region has no default subnet; "
            'set a subnet id\n    Traceback (most recent call last):\n      File "x.py"\n'
        ),
    )
    with pytest.raises(ProvisioningFailedError) as caught:
        engine.up(make_spec(), message="m")
    assert caught.value.kind == "error"
    assert caught.value.message == (
        "the Pulumi program failed: the region has no default subnet; set a subnet id"
    )


# -- the watchdog --------------------------------------------------------------------------


def slow_engine(engine_home: Path, cli: Any) -> PulumiEngine:
    settings = Settings(home=engine_home, provisioning_timeout_minutes=0.005)  # 0.3 s
    engine = PulumiEngine(settings, pulumi_command=cli)
    engine.cancel_grace_seconds = 5
    return engine


def test_the_watchdog_cancels_an_up_that_runs_too_long(
    engine_home: Path, cli: Any, make_spec: Spec
) -> None:
    def hanging_up(cli: Any, call: Any) -> Any:
        assert cli.cancelled.wait(10), "the watchdog never cancelled"
        cli.fail("error: [409] Conflict: The Update has been cancelled")

    cli.handlers["up"] = hanging_up
    engine = slow_engine(engine_home, cli)
    started = time.monotonic()

    with pytest.raises(ProvisioningFailedError) as caught:
        engine.up(make_spec(), message="m")

    assert caught.value.kind == "timeout"
    assert "0.005 minutes" in caught.value.message
    assert cli.one("cancel").args == ["cancel", "--yes", "--stack", "inst-0001"]
    assert cli.verbs()[-2:] == ["up", "cancel"]  # no destroy: the service decides
    assert time.monotonic() - started < 5


def test_the_watchdog_gives_up_on_an_up_that_ignores_cancel(
    engine_home: Path, cli: Any, make_spec: Spec
) -> None:
    release = threading.Event()
    cli.handlers["up"] = lambda cli, call: (release.wait(10), cli.ok())[1]
    engine = slow_engine(engine_home, cli)
    engine.cancel_grace_seconds = 0.2
    try:
        with pytest.raises(ProvisioningFailedError) as caught:
            engine.up(make_spec(), message="m")
        assert caught.value.kind == "timeout"
        assert "cancel" in cli.verbs()
    finally:
        release.set()


# -- destroy, outputs, history, list ---------------------------------------------------------


def test_destroy_keeps_the_stack_and_its_history(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    engine.up(make_spec(), message="up")
    cli.calls.clear()
    seen: list[EngineEvent] = []

    engine.destroy("inst-0001", message="provisioner down inst-0001 (user)", on_event=seen.append)

    assert cli.verbs() == ["stack select", "destroy", "stack history", "stack tag"]
    assert cli.one("stack tag").args[:4] == ["stack", "tag", "rm", "provisioner:live"]
    destroy = cli.one("destroy").args
    assert destroy[:3] == ["destroy", "--skip-preview", "--yes"]
    assert destroy[destroy.index("--message") + 1] == "provisioner down inst-0001 (user)"
    assert destroy[destroy.index("--exec-kind") + 1] == "auto.inline"
    assert destroy[-2:] == ["--stack", "inst-0001"]
    assert "--remove" not in destroy and "stack rm" not in cli.verbs()
    assert [(e.op, e.status) for e in seen if e.kind == "resource"] == [
        ("delete", "started"), ("delete", "done"),
    ]  # fmt: skip
    assert "inst-0001" in cli.stacks


def test_destroying_an_unknown_stack_does_nothing(engine: PulumiEngine, cli: Any) -> None:
    engine.destroy("inst-never", message="m")
    assert cli.verbs() == ["stack select"]


def test_a_failed_destroy_is_classified(engine: PulumiEngine, cli: Any, make_spec: Spec) -> None:
    engine.up(make_spec(), message="up")
    cli.handlers["destroy"] = lambda cli, call: cli.fail(
        "error: deleting EC2 Instance (i-0123456789abcdef0): operation error EC2: "
        "TerminateInstances, https response error StatusCode: 503, api error "
        "RequestLimitExceeded: Request limit exceeded.\nerror: destroy failed"
    )
    with pytest.raises(DestroyFailedError) as caught:
        engine.destroy("inst-0001", message="down")
    assert caught.value.kind == "transient"
    assert caught.value.message.startswith("deleting EC2 Instance (i-0123456789abcdef0)")


def test_outputs_of_a_stack(engine: PulumiEngine, cli: Any, make_spec: Spec) -> None:
    engine.up(make_spec(), message="up")
    cli.calls.clear()
    assert engine.outputs("inst-0001").private_ip == "10.0.1.23"
    assert [c.args for c in cli.calls[1:]] == [
        ["stack", "output", "--json", "--stack", "inst-0001"],
        ["stack", "output", "--json", "--show-secrets", "--stack", "inst-0001"],
    ]
    assert engine.outputs("inst-never") == StackOutputs(None, None, None)


def test_history_reads_every_page_oldest_first(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    engine.up(make_spec(), message="provisioner up inst-0001")
    engine.destroy("inst-0001", message="provisioner down inst-0001")
    cli.calls.clear()

    entries = engine.history("inst-0001")

    assert [c.args for c in cli.calls[1:]] == [
        ["stack", "history", "--json", "--page-size", "100", "--page", "1", "--stack", "inst-0001"]
    ]
    assert entries is not None
    assert [(e.version, e.kind, e.result, e.message) for e in entries] == [
        (1, "update", "succeeded", "provisioner up inst-0001"),
        (2, "destroy", "succeeded", "provisioner down inst-0001"),
    ]
    assert entries[0].resource_changes == {"create": 5}
    assert entries[1].resource_changes == {"delete": 5}
    assert entries[0].start_time.tzinfo is not None
    assert entries[0].end_time is not None and entries[0].end_time > entries[0].start_time
    assert engine.history("inst-never") == []


def test_history_pages_until_a_short_page(engine: PulumiEngine, cli: Any, make_spec: Spec) -> None:
    engine.up(make_spec(), message="up")
    stack = cli.stacks["inst-0001"]
    stack.updates = [dict(stack.updates[0], version=n) for n in range(1, 151)]
    cli.calls.clear()

    entries = engine.history("inst-0001")

    assert [c.flag("--page") for c in cli.of("stack history")] == ["1", "2"]
    assert entries is not None and [e.version for e in entries] == list(range(1, 151))


def test_list_stacks(engine: PulumiEngine, cli: Any, make_spec: Spec, engine_home: Path) -> None:
    engine.up(make_spec(), message="up")
    engine.up(make_spec(instance_id="inst-0002"), message="up")
    engine.destroy("inst-0002", message="down")
    cli.calls.clear()

    stacks = {s.name: s for s in engine.list_stacks()}

    assert cli.one("stack ls").args == ["stack", "ls", "--json"]
    assert cli.one("stack ls").cwd == str(engine_home / "workspaces" / "@project")
    assert stacks["inst-0001"].resource_count == 5
    assert stacks["inst-0002"].resource_count == 0
    last_update = stacks["inst-0001"].last_update
    assert last_update is not None and last_update.tzinfo is not None


# -- the CLI: discovery, install, doctor ---------------------------------------------------


@pytest.fixture
def no_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No pulumi on PATH or under ~/.pulumi, and an install that fails at once (no network)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    attempts: list[str] = []

    def offline_install(cls: type, *args: Any, **kwargs: Any) -> PulumiCommand:
        attempts.append("install")
        raise URLError("no network")

    monkeypatch.setattr(PulumiCommand, "install", classmethod(offline_install))
    return attempts


INSTALL_URL = "https://www.pulumi.com/docs/iac/download-install/"
EXPECTED_UNAVAILABLE = (
    "Pulumi CLI not found and could not be installed (download failed: no network): install it "
    "(https://www.pulumi.com/docs/iac/download-install/) or pass --simulate / set "
    "PROVISIONER_ENGINE=simulated"
)


def test_missing_cli_fails_with_the_fix_once(
    no_cli: list[str], engine_home: Path, make_spec: Spec
) -> None:
    engine = PulumiEngine(Settings(home=engine_home))
    assert no_cli == []  # nothing happens in the constructor

    with pytest.raises(EngineUnavailableError) as caught:
        engine.ensure_ready()
    assert caught.value.message == EXPECTED_UNAVAILABLE
    with pytest.raises(EngineUnavailableError, match="pass --simulate"):
        engine.up(make_spec(), message="m")
    with pytest.raises(EngineUnavailableError):
        engine.destroy("inst-0001", message="m")
    assert no_cli == ["install"]  # tried once, the failure cached


def test_doctor_never_installs(no_cli: list[str], engine_home: Path) -> None:
    checks = {c.name: c for c in PulumiEngine(Settings(home=engine_home)).doctor()}
    assert no_cli == []
    assert not checks["pulumi cli"].ok
    assert INSTALL_URL in checks["pulumi cli"].detail
    assert "--simulate" in checks["pulumi cli"].detail


def test_doctor_reports_without_secrets(
    engine: PulumiEngine, engine_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "azure-secret-value")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "passphrase-value")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("CLOUDSDK_CONFIG", raising=False)

    checks = {c.name: c for c in engine.doctor()}

    base = {"pulumi cli", "backend", "aws credentials", "azure credentials", "secrets",
            "shared secrets", "gcp credentials"}  # fmt: skip
    assert base <= set(checks)
    # Both clouds have credentials, so their preconditions are asked too (#13); the recording
    # CLI runs no probe program and no Azure subscription is set: they cannot be checked here.
    cloud = set(checks) - base
    assert cloud and all(checks[name].status == "CANNOT CHECK" for name in cloud)
    assert checks["pulumi cli"].ok and "3.272.0" in checks["pulumi cli"].detail
    assert checks["backend"].ok and "writable" in checks["backend"].detail
    assert checks["aws credentials"].ok and "AWS_ACCESS_KEY_ID" in checks["aws credentials"].detail
    assert checks["azure credentials"].ok
    assert "PULUMI_CONFIG_PASSPHRASE" in checks["secrets"].detail
    text = " ".join(c.detail for c in checks.values())
    for secret in ("AKIAEXAMPLEKEY", "aws-secret-value", "azure-secret-value", "passphrase-value"):
        assert secret not in text


def test_doctor_without_credentials(
    engine: PulumiEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    checks = {c.name: c for c in engine.doctor()}
    assert not checks["aws credentials"].ok
    assert not checks["azure credentials"].ok
    assert "made on first use" in checks["secrets"].detail


# -- the real-process command (a stand-in `pulumi` script, no network) ----------------------

FAKE_PULUMI = """#!/bin/sh
if [ "$1" = "version" ]; then echo "v{version}"; exit 0; fi
case "$2" in
  whoami) echo "alice"; echo "a warning" >&2; exit 0;;
  stack) echo "error: no stack named 'x' found" >&2; exit 255;;
  up) trap 'echo "received SIGINT: cancelling the update" >&2; exit 255' INT
      echo "started"
      while :; do sleep 0.05; done;;
esac
exit 3
"""


def install_fake_pulumi(directory: Path, version: str = "3.272.0") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "pulumi"
    script.write_text(FAKE_PULUMI.format(version=version))
    script.chmod(0o755)
    return script


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="uses a POSIX shell script")


@posix_only
def test_cli_command_runs_and_maps_errors_like_the_sdk(tmp_path: Path) -> None:
    install_fake_pulumi(tmp_path / "root" / "bin")
    command = CliCommand(root=str(tmp_path / "root"))
    lines: list[str] = []

    result = command.run(["whoami"], str(tmp_path), {"X": "1"}, on_output=lines.append)

    assert (result.stdout, result.stderr, result.code) == ("alice", "a warning", 0)
    assert lines == ["alice"]
    from pulumi.automation import StackNotFoundError

    with pytest.raises(StackNotFoundError):
        command.run(["stack", "select", "--stack", "x"], str(tmp_path), {})


@posix_only
def test_cli_command_interrupts_the_process_of_a_thread(tmp_path: Path) -> None:
    install_fake_pulumi(tmp_path / "root" / "bin")
    command = CliCommand(root=str(tmp_path / "root"))
    started = threading.Event()
    failure: list[BaseException] = []

    def up() -> None:
        try:
            command.run(["up"], str(tmp_path), {}, on_output=lambda line: started.set())
        except CommandError as exc:
            failure.append(exc)

    worker = threading.Thread(target=up)
    worker.start()
    assert started.wait(10)
    import signal

    assert not command.signal(threading.get_ident(), signal.SIGINT)  # this thread runs nothing
    assert command.signal(worker.ident or 0, signal.SIGINT)
    worker.join(10)
    assert not worker.is_alive()
    assert "cancelling the update" in str(failure[0])


@posix_only
def test_a_cli_on_path_is_found_without_installing(
    no_cli: list[str], tmp_path: Path, engine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_pulumi(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}/bin{os.pathsep}/usr/bin")
    engine = PulumiEngine(Settings(home=engine_home))
    engine.ensure_ready()
    assert no_cli == []
    checks = {c.name: c for c in engine.doctor()}
    assert checks["pulumi cli"].ok and "v3.272.0" in checks["pulumi cli"].detail


@posix_only
def test_a_too_old_cli_is_explained(
    no_cli: list[str], tmp_path: Path, engine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_pulumi(tmp_path / "bin", version="3.100.0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}/bin{os.pathsep}/usr/bin")
    with pytest.raises(EngineUnavailableError) as caught:
        PulumiEngine(Settings(home=engine_home)).ensure_ready()
    assert "3.100.0" in caught.value.message
    assert "\n" not in caught.value.message
    assert no_cli == ["install"]
