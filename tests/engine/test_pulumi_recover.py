"""Contract tests for what the reaper asks of PulumiEngine: `recover` (cancel, then refresh with
--clear-pending-creates) and `stack_tags`. Only the Pulumi CLI process is replaced (conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from provisioner.engine.pulumi.engine import PulumiEngine
from provisioner.rules.errors import CloudError
from stacks.spec import InstanceSpec

Spec = Callable[..., InstanceSpec]


def refreshed(cli: Any, call: Any) -> Any:
    cli.record_update(cli.stack(call), "refresh", call)
    return cli.ok("Refreshing (inst-0001):\n\nResources:\n    5 unchanged")


def test_recover_cancels_then_refreshes_clearing_pending_creates(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    engine.up(make_spec(), message="m")
    cli.handlers["refresh"] = refreshed
    engine.recover("inst-0001")
    verbs = cli.verbs()
    assert verbs.index("cancel") < verbs.index("refresh")
    cancel, refresh = cli.one("cancel"), cli.one("refresh")
    assert cancel.flag("--stack") == "inst-0001"
    assert "--yes" in cancel.args
    assert refresh.flag("--stack") == "inst-0001"
    assert {"--clear-pending-creates", "--skip-preview", "--yes"} <= set(refresh.args)
    assert refresh.flag("--message") == "provisioner recover inst-0001"


def test_recover_refreshes_even_when_there_is_nothing_to_cancel(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    engine.up(make_spec(), message="m")
    cli.handlers["cancel"] = lambda cli, call: cli.fail("error: no update in progress")
    cli.handlers["refresh"] = refreshed
    engine.recover("inst-0001")
    assert "refresh" in cli.verbs()


def test_recover_of_an_unknown_stack_does_nothing(engine: PulumiEngine, cli: Any) -> None:
    engine.recover("inst-gone")
    assert "cancel" not in cli.verbs() and "refresh" not in cli.verbs()


def test_a_failed_refresh_is_a_classified_cloud_error(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    engine.up(make_spec(), message="m")
    cli.handlers["refresh"] = lambda cli, call: cli.fail(
        "error: reading EC2 Instance: operation error EC2: DescribeInstances, "
        "api error RequestLimitExceeded: Request limit exceeded."
    )
    with pytest.raises(CloudError) as err:
        engine.recover("inst-0001")
    assert err.value.kind == "transient"
    assert "RequestLimitExceeded" in err.value.message


def test_stack_tags_are_read_from_the_cli(engine: PulumiEngine, cli: Any, make_spec: Spec) -> None:
    engine.up(make_spec(), message="m")

    def tag_ls(cli: Any, call: Any) -> Any:
        if call.args[2] == "ls":
            return cli.ok(json.dumps(cli.stack(call).tags))
        stack = cli.stack(call)
        stack.tags[call.args[3]] = call.args[4]
        return cli.ok()

    cli.handlers["stack tag"] = tag_ls
    assert engine.stack_tags("inst-0001")["provisioner:instance-id"] == "inst-0001"
    assert engine.stack_tags("inst-gone") == {}


def test_stack_tags_on_a_backend_without_tags_are_empty(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    cli.tags_supported = False
    engine.up(make_spec(), message="m")
    cli.handlers["stack tag"] = lambda cli, call: cli.fail(
        "error: stack tags not supported in diy mode"
    )
    assert engine.stack_tags("inst-0001") == {}


def exported(types: list[str]) -> Any:
    def handler(cli: Any, call: Any) -> Any:
        deployment = {
            "version": 3,
            "deployment": {"resources": [{"type": t, "urn": f"urn:{t}"} for t in types]},
        }
        return cli.ok(json.dumps(deployment))

    return handler


def test_liveness_refreshes_the_stack_and_finds_its_vm(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    engine.up(make_spec(), message="m")
    cli.handlers["refresh"] = refreshed
    cli.handlers["stack export"] = exported(["aws:ec2/instance:Instance", "pulumi:providers:aws"])
    assert engine.liveness("inst-0001").alive is True
    refresh = cli.one("refresh")
    assert refresh.flag("--stack") == "inst-0001"
    assert "--clear-pending-creates" not in refresh.args


def test_liveness_reports_a_vm_the_refresh_no_longer_finds(
    engine: PulumiEngine, cli: Any, make_spec: Spec
) -> None:
    engine.up(make_spec(), message="m")
    cli.handlers["refresh"] = refreshed
    cli.handlers["stack export"] = exported(["aws:ec2/securityGroup:SecurityGroup"])
    check = engine.liveness("inst-0001")
    assert check.alive is False and "gone" in check.detail
