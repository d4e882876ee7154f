"""#13: a create cut short (watchdog cancel, crash) must not leave a billing VM that the state
forgets. Contract test on a recorded pending-create state: recover() reads the state, finds the
VM by its provisioner:instance-id tag (the probe program under Pulumi's mocks), writes it into
the state before `refresh --clear-pending-creates`, so the destroy that follows deletes it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from preflight_replay import ReplayRunner

from provisioner.engine.pulumi.engine import PulumiEngine
from provisioner.rules.errors import CloudError
from stacks.spec import InstanceSpec

STATE = Path(__file__).resolve().parent.parent / "data" / "state" / "pending-create.json"
LEAKED = "i-0a1b2c3d4e5f60718"
VM_URN = "urn:pulumi:inst-0001::gpu-provisioner::aws:ec2/instance:Instance::instance"


@pytest.fixture
def recorded(cli: Any) -> dict[str, Any]:
    """The CLI answers `stack export` with the recorded state and keeps what is imported."""
    seen: dict[str, Any] = {}

    def export(cli: Any, call: Any) -> Any:
        return cli.ok(STATE.read_text())

    def import_(cli: Any, call: Any) -> Any:
        seen["imported"] = json.loads(Path(str(call.flag("--file"))).read_text())
        return cli.ok()

    cli.handlers["stack export"] = export
    cli.handlers["stack import"] = import_
    cli.handlers["refresh"] = lambda cli, call: cli.ok("Refreshing")
    return seen


def test_the_vm_of_a_pending_create_is_adopted_before_the_refresh(
    engine: PulumiEngine, cli: Any, make_spec: Callable[..., InstanceSpec], recorded: dict
) -> None:
    engine.up(make_spec(), message="m")
    runner = ReplayRunner({"aws:ec2/getInstances:getInstances": {"result": {"ids": [LEAKED]}}})
    engine._run_probe = runner  # type: ignore[method-assign]
    engine.recover("inst-0001")

    verbs = cli.verbs()
    assert verbs.index("cancel") < verbs.index("stack export") < verbs.index("stack import")
    assert verbs.index("stack import") < verbs.index("refresh")
    (probe,) = runner.probes
    assert (probe.region, probe.instance_id) == ("us-east-1", "inst-0001")
    assert probe.tag_key == "provisioner:instance-id"
    deployment = recorded["imported"]["deployment"]
    assert deployment["pending_operations"] == []
    (vm,) = [r for r in deployment["resources"] if r["type"] == "aws:ec2/instance:Instance"]
    assert (vm["urn"], vm["id"]) == (VM_URN, LEAKED)
    assert vm["provider"].startswith("urn:pulumi:inst-0001::gpu-provisioner::pulumi:providers:aws")
    # The rest of the state is untouched (its secrets provider included).
    original = json.loads(STATE.read_text())["deployment"]
    assert deployment["secrets_providers"] == original["secrets_providers"]
    assert len(deployment["resources"]) == len(original["resources"]) + 1


def test_nothing_is_imported_when_the_cloud_has_no_such_vm(
    engine: PulumiEngine, cli: Any, make_spec: Callable[..., InstanceSpec], recorded: dict
) -> None:
    engine.up(make_spec(), message="m")
    runner = ReplayRunner({"aws:ec2/getInstances:getInstances": {"result": {"ids": []}}})
    engine._run_probe = runner  # type: ignore[method-assign]
    engine.recover("inst-0001")
    assert "stack import" not in cli.verbs()
    assert "--clear-pending-creates" in cli.one("refresh").args


def test_when_the_cloud_cannot_be_asked_the_pending_create_is_not_forgotten(
    engine: PulumiEngine, cli: Any, make_spec: Callable[..., InstanceSpec], recorded: dict
) -> None:
    engine.up(make_spec(), message="m")
    runner = ReplayRunner({"aws:ec2/getInstances:getInstances": {"error": "dial tcp: i/o timeout"}})
    engine._run_probe = runner  # type: ignore[method-assign]
    with pytest.raises(CloudError) as err:
        engine.recover("inst-0001")
    assert err.value.kind == "transient"
    assert "refresh" not in cli.verbs()


def test_aws_attempt_3_leak_found_by_tag(
    engine: PulumiEngine, cli: Any, make_spec: Callable[..., InstanceSpec], recorded: dict
) -> None:
    """#25: attempt 3 runs in stack inst-0001-a3 while its tags hold inst-0001; the search used
    the stack name and found nothing, so the leaked VM billed on. Now it asks for the instance id
    and the attempt, and the VM is adopted."""
    spec = make_spec(attempt=3)
    assert spec.provisioner_tags()["provisioner:instance-id"] == "inst-0001"
    assert spec.provisioner_tags()["provisioner:attempt"] == "3"
    engine.up(spec, message="m")
    runner = ReplayRunner({"aws:ec2/getInstances:getInstances": {"result": {"ids": [LEAKED]}}})
    engine._run_probe = runner  # type: ignore[method-assign]
    engine.recover("inst-0001-a3")
    (probe,) = runner.probes
    assert (probe.region, probe.instance_id, probe.attempt) == ("us-east-1", "inst-0001", 3)
    deployment = recorded["imported"]["deployment"]
    (vm,) = [r for r in deployment["resources"] if r["type"] == "aws:ec2/instance:Instance"]
    assert vm["id"] == LEAKED
    assert deployment["pending_operations"] == []
