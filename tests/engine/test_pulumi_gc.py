"""gc against the Pulumi engine (#13), only the CLI process replaced: self-managed backends lose
the destroyed stack (after its history is in the ledger), Pulumi Cloud keeps it unless told."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from factories import FakeClock, make_request

from provisioner.config import Settings
from provisioner.engine.pulumi.engine import PulumiEngine
from provisioner.ops.gc import collect, parse_window
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import CloudError


def provision_and_end(service: Provisioner) -> str:
    instance = service.provision(make_request())
    service.terminate(instance.id)
    return instance.id


@pytest.fixture
def ready_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the ups through preflight (the quota is there)."""
    monkeypatch.setattr(PulumiEngine, "preflight", lambda self, target, cheap: [])


@pytest.mark.parametrize(
    ("url", "remove_stacks", "removed"),
    [
        (None, False, True),  # the default file:// backend
        ("https://api.pulumi.com", False, False),
        ("https://api.pulumi.com", True, True),
    ],
)
def test_gc_removes_stacks_only_from_self_managed_backends_unless_told(
    url: str | None,
    remove_stacks: bool,
    removed: bool,
    cli: Any,
    engine_home: Path,
    ready_quota: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "pul-test")
    clock = FakeClock()
    settings = Settings(home=engine_home, pulumi_backend_url=url)
    engine = PulumiEngine(settings, pulumi_command=cli)
    service = Provisioner(settings, engine=engine, clock=clock)
    instance_id = provision_and_end(service)
    clock.advance(days=31)

    result = collect(service, older_than=parse_window("30d"), remove_stacks=remove_stacks)

    assert result.collected == 1
    assert (instance_id in cli.stacks) is not removed
    assert ("stack rm" in cli.verbs()) is removed
    history = service.history(instance_id)
    assert history is not None
    assert [e.kind for e in history] == ["update", "destroy", "gc"]
    assert history[0].resource_changes == {"create": 5}
    assert ("removed" if removed else "kept") in history[-1].message


def test_a_stack_that_still_holds_resources_is_never_removed(
    engine: PulumiEngine, cli: Any, make_spec: Any
) -> None:
    engine.up(make_spec(), message="m")
    with pytest.raises(CloudError) as err:
        engine.remove_stack("inst-0001")
    assert "still has resources" in err.value.message
    assert "inst-0001" in cli.stacks


def test_on_pulumi_cloud_the_orphan_sweep_lists_only_live_stacks(
    cli: Any, engine_home: Path, make_spec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc keeps destroyed stacks on Pulumi Cloud, so the sweep's listing must not grow with
    them: `stack ls --tag provisioner:live=true` lists what is up or whose destroy failed."""
    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "pul-test")
    settings = Settings(home=engine_home, pulumi_backend_url="https://api.pulumi.com")
    engine = PulumiEngine(settings, pulumi_command=cli)
    for n in range(3):
        engine.up(make_spec(instance_id=f"inst-{n}"), message="m")
    engine.destroy("inst-0", message="down")
    engine.destroy("inst-1", message="down")
    assert {s.name for s in engine.list_stacks()} == {"inst-2"}
    assert cli.of("stack ls")[-1].flag("--tag") == "provisioner:live=true"
    assert {"inst-0", "inst-1", "inst-2"} <= set(cli.stacks)  # kept: the audit trail
