"""doctor's and up's cloud preconditions (#13), judged from recorded cloud answers: the real AWS
probe program under Pulumi's mocks, the Azure checks against a real HTTP server on 127.0.0.1.
Each fixture in tests/data/preflight/ lists the doctor --json lines it must produce."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from preflight_replay import ReplayRunner, arm_options, arm_server, fixture

from provisioner.engine.pulumi.engine import PulumiEngine
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import ProvisioningFailedError
from provisioner.rules.validation import ProvisionRequest

FIXTURES = [
    "aws-fresh-account",
    "aws-ready-account",
    "aws-offline",
    "aws-no-credentials",
    "azure-fresh-subscription",
    "azure-ready-subscription",
]


def doctor_lines(engine: PulumiEngine, recorded: dict[str, Any]) -> list[dict[str, Any]]:
    target = recorded["target"]
    checks = engine.doctor_cloud(target["provider"], target["region"], target["instanceType"])
    return [check.to_json() for check in checks]


@pytest.mark.parametrize("name", FIXTURES)
def test_doctor_json_has_a_line_per_precondition_with_its_fix(
    engine: PulumiEngine, name: str
) -> None:
    recorded = fixture(name)
    engine._run_probe = ReplayRunner(recorded.get("invokes", {}))  # type: ignore[method-assign]
    with arm_server(recorded.get("responses", {})) as url:
        engine.azure_arm = arm_options(url)
        lines = doctor_lines(engine, recorded)
    by_name = {line["name"]: line for line in lines}
    for expected in recorded["expected"]:
        line = by_name[expected["name"]]
        assert line["status"] == expected["status"], line
        assert line["ok"] is (expected["status"] != "FAIL")
        if expected["status"] == "FAIL":
            assert line["fix"], line
            assert expected.get("fixContains", "") in line["fix"]
        else:
            assert line["detail"]
    statuses = {line["status"] for line in lines}
    assert statuses <= {"PASS", "FAIL", "CANNOT CHECK"}


def test_offline_says_why_it_cannot_check(engine: PulumiEngine) -> None:
    engine._run_probe = ReplayRunner(fixture("aws-offline")["invokes"])  # type: ignore[method-assign]
    lines = doctor_lines(engine, fixture("aws-offline"))
    assert all(line["status"] == "CANNOT CHECK" and line["ok"] for line in lines)
    assert all("could not reach" in line["detail"] for line in lines)


def test_azure_without_a_subscription_cannot_check(
    engine: PulumiEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.azure_arm = {"token": lambda: "test-token", "base_url": "http://127.0.0.1:9"}
    (line,) = engine.doctor_cloud("AZURE", "eastus", "Standard_NC4as_T4_v3")
    assert line.status == "CANNOT CHECK"
    assert "AZURE_SUBSCRIPTION_ID" in line.detail


def test_spot_asks_for_the_spot_quota(engine: PulumiEngine) -> None:
    from provisioner.engine.preflight_targets import preflight_target

    runner = ReplayRunner(fixture("aws-fresh-account")["invokes"])
    engine._run_probe = runner  # type: ignore[method-assign]
    target = preflight_target(engine.settings, "aws", "us-east-1", "g4dn.xlarge", spot=True)
    checks = engine.preflight(target, cheap=True)
    assert [c.name for c in checks] == ["aws quota L-3819A6DF"]
    assert checks[0].status == "FAIL"


def test_up_is_refused_before_anything_is_created_with_the_doctor_line(
    engine: PulumiEngine, cli: Any, tmp_path: Path
) -> None:
    """A fresh account (G quota 0): the up fails before any stack exists, with the very line
    doctor prints, and the instance ends FAILED with nothing left."""
    engine._run_probe = ReplayRunner(fixture("aws-fresh-account")["invokes"])  # type: ignore[method-assign]
    service = Provisioner(engine.settings, engine=engine)
    request = ProvisionRequest(
        provider="aws", instance_type="g4dn.xlarge", user_id="alice", disk_size_gb=50
    )
    with pytest.raises(ProvisioningFailedError) as err:
        service.provision(request)
    doctor_line = next(
        c
        for c in engine.doctor_cloud("AWS", "us-east-1", "g4dn.xlarge")
        if c.name == "aws quota L-DB2E81BA"
    )
    assert err.value.kind == "quota"
    assert err.value.message.startswith("FAIL aws quota L-DB2E81BA")
    assert doctor_line.detail in err.value.message and str(doctor_line.fix) in err.value.message
    assert "up" not in cli.verbs()
    assert [s for s in cli.stacks if not s.startswith("preflight-")] == []
    (instance,) = service.list()
    assert instance.status == "FAILED"


def test_up_goes_ahead_when_the_quota_is_there(engine: PulumiEngine, cli: Any) -> None:
    engine._run_probe = ReplayRunner(fixture("aws-ready-account")["invokes"])  # type: ignore[method-assign]
    service = Provisioner(engine.settings, engine=engine)
    request = ProvisionRequest(provider="aws", instance_type="g4dn.xlarge", user_id="alice")
    instance = service.provision(request)
    assert instance.status == "READY"
    assert "up" in cli.verbs()


def test_the_real_runner_previews_a_probe_stack(engine: PulumiEngine, cli: Any) -> None:
    """Through the Automation API: a preview (never an up) of the region's probe stack. The
    recording CLI runs no program, so nothing was answered: every line says CANNOT CHECK."""
    from provisioner.engine.preflight_targets import preflight_target

    cli.handlers["preview"] = lambda cli, call: cli.ok("Previewing update (preflight)")
    target = preflight_target(engine.settings, "AWS", "us-east-1", "g4dn.xlarge")
    checks = engine.preflight(target, cheap=True)
    preview = cli.one("preview")
    assert preview.flag("--stack") == "preflight-aws-us-east-1"
    assert "up" not in cli.verbs()
    assert checks and all(c.status == "CANNOT CHECK" for c in checks)


class RegionalReplay:
    """The recorded answers of one account per region (a fresh one here, a ready one there)."""

    def __init__(self, by_region: dict[str, str]):
        self.runners = {
            region: ReplayRunner(fixture(name)["invokes"]) for region, name in by_region.items()
        }

    def __call__(self, probe: Any) -> None:
        self.runners[probe.region](probe)


def test_a_region_refused_by_preflight_is_left_for_the_next_region_at_once(
    engine: PulumiEngine, cli: Any
) -> None:
    """us-east-1's G quota is 0: its other zones would be refused the same way, so the second
    attempt is already in us-west-2."""
    engine._run_probe = RegionalReplay(  # type: ignore[method-assign]
        {"us-east-1": "aws-fresh-account", "us-west-2": "aws-ready-account"}
    )
    service = Provisioner(engine.settings, engine=engine)
    request = ProvisionRequest(
        provider="aws",
        instance_type="g4dn.xlarge",
        user_id="alice",
        regions=("us-east-1", "us-west-2"),
    )
    instance = service.provision(request)
    assert instance.status == "READY" and instance.region == "us-west-2"
    attempts = [(a.number, a.candidate.region, a.outcome) for a in instance.attempts or []]
    assert attempts == [(1, "us-east-1", "failed"), (2, "us-west-2", "landed")]


def test_the_quota_is_judged_by_its_headroom_not_its_limit(engine: PulumiEngine) -> None:
    """#24: G quota 64 with 60 vCPUs running (recorded figures): a g5.2xlarge (8 vCPUs) does not
    fit in the 4 left, though the limit alone would pass it; a g4dn.xlarge (4) still does."""
    from provisioner.engine.preflight_targets import preflight_target

    engine._run_probe = ReplayRunner(fixture("aws-g-family-busy")["invokes"])  # type: ignore[method-assign]
    big = preflight_target(engine.settings, "aws", "us-east-1", "g5.2xlarge")
    (line,) = engine.preflight(big, cheap=True)
    assert line.status == "FAIL"
    assert "64 vCPUs, 60 in use (4 instances), 4 free" in line.detail
    assert "below g5.2xlarge's 8" in line.detail
    small = preflight_target(engine.settings, "aws", "us-east-1", "g4dn.xlarge")
    (fits,) = engine.preflight(small, cheap=True)
    assert fits.status == "PASS" and "4 free" in fits.detail


def test_azure_spot_is_judged_by_the_low_priority_quota_not_the_family() -> None:
    """Recorded `usages` figures: the T4 family has room, Spot (lowPriorityCores) has 2 free."""
    from provisioner.engine.preflight import Target, azure_checks

    usages = {
        "value": [
            {"name": {"value": "cores"}, "limit": 100, "currentValue": 0},
            {"name": {"value": "standardNCASv3_T4Family"}, "limit": 64, "currentValue": 0},
            {"name": {"value": "lowPriorityCores"}, "limit": 6, "currentValue": 4},
        ]
    }
    registered = {"registrationState": "Registered"}
    providers = {ns: registered for ns in ("Microsoft.Compute", "Microsoft.Network")}
    providers["Microsoft.DevTestLab"] = registered
    target = Target("AZURE", "eastus", "Standard_NC4as_T4_v3", vcpus=4, spot=True)
    quota = azure_checks(target, providers, usages, cheap=True)[-1]
    assert quota.status == "FAIL" and "lowPriorityCores 4/6, 2 free" in quota.detail
    on_demand = Target("AZURE", "eastus", "Standard_NC4as_T4_v3", vcpus=4, spot=False)
    assert azure_checks(on_demand, providers, usages, cheap=True)[-1].status == "PASS"


def test_access_denied_on_the_default_quota_call_is_cannot_check_naming_the_action() -> None:
    """#25, the recorded answer of pulumi-aws's service-quota data source without
    GetAWSDefaultServiceQuota: CANNOT CHECK naming the action, never a quota refusal."""
    from provisioner.engine.base import Target
    from provisioner.engine.preflight import CANNOT, aws_checks, refusal

    error = (
        "reading Service Quota (ec2/L-DB2E81BA): operation error Service Quotas: "
        "GetAWSDefaultServiceQuota, https response error StatusCode: 400, AccessDeniedException: "
        "User: arn:aws:iam::123456789012:user/p is not authorized to perform: "
        "servicequotas:GetAWSDefaultServiceQuota"
    )
    target = Target(provider="AWS", region="us-east-1", instance_type="g4dn.xlarge", vcpus=4)
    checks = aws_checks(target, {"quota:L-DB2E81BA": {"error": error}}, cheap=True)
    (check,) = checks
    assert check.status == CANNOT
    assert "servicequotas:GetAWSDefaultServiceQuota" in check.detail
    assert refusal(checks) is None
