"""Failover, spot, preemption and recovery end to end: the real programs under Pulumi's mocks, a
real ledger (SQLite and PostgreSQL), the simulated capacity rules (#12)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from factories import make_request
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.config import Settings
from provisioner.ops.reaper import Reaper
from provisioner.ops.service import Provisioner
from provisioner.rules.catalog import packaged_catalog_text
from provisioner.rules.errors import ProvisioningFailedError

START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def make_service(home, **knobs) -> Provisioner:
    return Provisioner(Settings(home=home, engine="simulated", **knobs))


def held(service: Provisioner) -> dict[str, int]:
    """Every simulated stack and the resources it still holds."""
    engine = service.engine_for("simulated")
    return {s.name: s.resource_count or 0 for s in engine.list_stacks()}


def events(service: Provisioner, instance_id: str, kind: str) -> list[str]:
    return [e.detail or "" for e in service.ledger.events(instance_id) if e.type == kind]


G5_ABSENT = "aws/us-east-1/us-east-1a/g5.xlarge=none,aws/us-east-1/us-east-1b/g5.xlarge=none"


def test_failover_lands_in_the_first_zone_with_capacity(home):
    service = make_service(home, sim_capacity=G5_ABSENT)

    out = service.provision(make_request(instance_type="g5.xlarge"))

    assert out.status == "READY"
    assert (out.provider, out.region, out.zone, out.instance_type) == (
        "AWS", "us-east-1", "us-east-1c", "g5.xlarge",
    )  # fmt: skip
    assert out.metadata["availabilityZone"] == "us-east-1c"
    assert [(a.number, a.outcome, a.provider_code) for a in out.attempts] == [
        (1, "failed", "InsufficientInstanceCapacity"),
        (2, "failed", "InsufficientInstanceCapacity"),
        (3, "landed", None),
    ]
    assert [a.candidate.zone for a in out.attempts] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    failed = events(service, out.id, "instance:attempt-failed")
    assert len(failed) == 2
    assert all("InsufficientInstanceCapacity" in d for d in failed)
    assert "us-east-1a" in failed[0] and "us-east-1b" in failed[1]
    stacks = held(service)
    assert stacks[out.id] == 0 and stacks[f"{out.id}-a2"] == 0, "failed attempts hold nothing"
    assert stacks[f"{out.id}-a3"] > 0
    ready = events(service, out.id, "instance:ready")
    assert "us-east-1c" in ready[0]


def test_a_region_out_of_capacity_leaves_the_budget_for_the_next_region(home):
    """#24: us-east-1 refuses g5.xlarge in every zone; the default 6 attempts reach us-west-2."""
    service = make_service(home, sim_capacity="aws/us-east-1/*/g5.xlarge=none")
    request = make_request(
        instance_type="g5.xlarge", region=None, regions=("us-east-1", "us-west-2")
    )

    out = service.provision(request)

    assert (out.status, out.region, out.zone) == ("READY", "us-west-2", "us-west-2a")
    assert [a.candidate.zone for a in out.attempts] == ["us-east-1a", "us-east-1b", "us-west-2a"]


def test_a_gpu_request_on_any_cloud_reaches_another_cloud_with_default_options(home):
    """#24: every AWS region refuses; after two zones of AWS's cheapest region the next turn
    is another cloud's, well within the default 6 attempts."""
    service = make_service(home, sim_capacity="aws/*/*/*=none")
    out = service.provision(make_request(provider="any", instance_type="", region=None, gpu="T4:1"))
    assert out.status == "READY"
    assert out.provider != "AWS"
    assert [a.candidate.provider for a in out.attempts[:2]] == ["AWS", "AWS"]
    assert len(out.attempts) == 3


def test_three_regions_of_six_zones_are_all_tried_within_the_default_budget(home):
    """Three regions of six zones each (the catalog in the data dir says so): two zones per
    region per round, so the default 6 attempts reach every region."""
    raw = json.loads(packaged_catalog_text())
    (g5,) = [t for t in raw["instanceTypes"] if t["name"] == "g5.xlarge"]
    for region in ("us-east-2", "us-west-2"):
        g5["zones"][region] = [f"{region}{z}" for z in "abcdef"]
    home.mkdir(parents=True, exist_ok=True)
    (home / "catalog.json").write_text(json.dumps(raw))
    service = make_service(home, sim_capacity="aws/*/*/g5.xlarge=none")
    request = make_request(
        instance_type="g5.xlarge", region=None, regions=("us-east-1", "us-east-2", "us-west-2")
    )
    assert all(len(service.catalog.zones_of("AWS", r)) == 6 for r in request.regions or ())

    with pytest.raises(ProvisioningFailedError) as caught:
        service.provision(request)

    (instance,) = service.list()
    assert [a.candidate.zone for a in instance.attempts] == [
        "us-east-1a", "us-east-1b", "us-east-2a", "us-east-2b", "us-west-2a", "us-west-2b",
    ]  # fmt: skip
    assert caught.value.message.startswith("all 6 attempts failed")


def test_every_candidate_refused_ends_failed_listing_attempts_and_the_quota(home):
    service = make_service(home, sim_capacity="aws/*/*/g4dn.xlarge=quota")
    request = make_request(region=None, regions=("us-east-2", "us-west-2"))

    with pytest.raises(ProvisioningFailedError) as caught:
        service.provision(request)

    (instance,) = service.list()
    assert instance.status == "FAILED"
    assert len(instance.attempts) == 6, "bounded by the default max attempts"
    assert {a.provider_code for a in instance.attempts} == {"VcpuLimitExceeded"}
    message = caught.value.message
    assert message.startswith("all 6 attempts failed")
    assert "request a quota increase" in message
    assert "Running On-Demand G and VT instances" in message
    assert instance.error and "request a quota increase" in instance.error
    assert set(held(service).values()) == {0}, "no failed attempt holds anything"


def test_max_attempts_bounds_the_failover(home):
    service = make_service(home, sim_capacity="aws/*/*/*=none")
    with pytest.raises(ProvisioningFailedError):
        service.provision(make_request(max_attempts=2))
    (instance,) = service.list()
    assert [a.number for a in instance.attempts] == [1, 2]
    assert set(held(service).values()) == {0}


def test_an_unclassified_error_does_not_fail_over(home):
    service = make_service(home, sim_fail_up=1.0, sim_fail_kind="error")
    with pytest.raises(ProvisioningFailedError):
        service.provision(make_request())
    (instance,) = service.list()
    assert len(instance.attempts) == 1 and instance.status == "FAILED"


def test_a_zone_that_does_not_offer_the_type_is_skipped_by_the_program(home):
    service = make_service(home, sim_capacity="aws/us-east-1/us-east-1a/*=unsupported")
    out = service.provision(make_request())
    assert out.zone == "us-east-1b"  # the stated order: zone name; 1a does not offer it
    assert out.attempts[-1].candidate.zone == "us-east-1b"
    assert out.attempts[0].provider_code == "Unsupported"


def test_provider_any_with_a_gpu_spec_takes_the_cheapest(home):
    service = make_service(home)
    out = service.provision(make_request(provider="any", instance_type="", region=None, gpu="T4:1"))
    assert (out.provider, out.instance_type) == ("AWS", "g4dn.xlarge")
    assert out.cost_per_hour == pytest.approx(0.526)


def test_failover_across_clouds_after_a_refusal(home):
    service = make_service(home, sim_capacity="aws/*/*/*=none")
    request = make_request(
        provider="any", instance_type="", region=None, regions=("us-east-1", "eastus"), gpu="T4:1"
    )
    out = service.provision(request)  # default options: the turn passes to Azure at attempt 3
    assert out.provider == "AZURE"
    assert out.instance_type == "Standard_NC4as_T4_v3"
    assert {a.candidate.provider for a in out.attempts[:-1]} == {"AWS"}


def test_spot_bills_the_spot_price_captured_at_creation(home):
    service = make_service(home)
    out = service.provision(make_request(spot=True))
    spot_price = float(
        service.catalog.spot_price(service.catalog.get("AWS", "g4dn.xlarge"), "us-east-1")
    )
    assert out.spot is True
    assert out.cost_per_hour == pytest.approx(spot_price)
    assert out.cost_per_hour < 0.526


def test_terminating_a_failed_over_instance_destroys_its_landed_stack(home):
    service = make_service(home, sim_capacity=G5_ABSENT)
    out = service.provision(make_request(instance_type="g5.xlarge"))
    service.terminate(out.id)
    assert service.get(out.id).status == "TERMINATED"
    assert set(held(service).values()) == {0}


def test_the_orphan_sweep_keeps_a_live_attempt_stack_and_reports_no_orphans(home):
    service = make_service(home, sim_capacity=G5_ABSENT, orphan_grace_minutes=0)
    out = service.provision(make_request(instance_type="g5.xlarge"))
    result = Reaper(service).sweep()
    assert result.orphans == 0 and result.orphans_destroyed == 0
    assert service.get(out.id).status == "READY"
    assert held(service)[f"{out.id}-a3"] > 0


def test_preempted_spot_vm_is_detected_in_one_sweep_and_ends_terminated(home):
    with time_machine.travel(START, tick=False) as traveller:
        service = make_service(home, sim_preempt_after=5)
        seen: list[str] = []
        service.on("*", lambda event: seen.append(event["type"]))  # what webhooks receive
        out = service.provision(make_request(spot=True))
        assert out.status == "READY"
        reaper = Reaper(service)
        assert reaper.sweep().preempted == 0, "still there before 5 s"

        traveller.shift(timedelta(seconds=30))
        result = reaper.sweep()

        assert result.preempted == 1
        final = service.get(out.id)
        assert final.status == "TERMINATED"
        assert final.metadata["terminationReason"] == "preempted"
        assert final.terminated_at == START + timedelta(seconds=5), "billed until it vanished"
        assert final.total_cost > 0
        assert events(service, out.id, "instance:preempted")
        assert "instance:preempted" in seen and "instance:terminated" in seen
        assert set(held(service).values()) == {0}


def test_recover_relaunches_the_same_instance_on_another_candidate(home):
    with time_machine.travel(START, tick=False) as traveller:
        service = make_service(home, sim_preempt_after=5)
        out = service.provision(make_request(spot=True, recover=True))
        traveller.shift(timedelta(seconds=30))

        result = Reaper(service).sweep()

        assert result.preempted == 1 and result.failed == 0
        again = service.get(out.id)
        assert again.status == "READY"
        assert (again.id, again.task_id) == (out.id, out.task_id)
        assert again.zone != out.zone
        assert [a.outcome for a in again.attempts] == ["landed", "landed"]
        assert again.attempts[1].stack_name == f"{out.id}-a2"
        stacks = held(service)
        assert stacks[out.id] == 0 and stacks[f"{out.id}-a2"] > 0
        assert again.total_cost > 0, "the preempted VM's time is carried"
        relaunch = [
            e.detail or ""
            for e in service.ledger.events(out.id)
            if "relaunching after preemption" in (e.detail or "")
        ]
        assert relaunch and "its own budget of 6 attempts" in relaunch[0]
        shown = CliRunner().invoke(app, ["show", out.id])
        assert shown.exit_code == 0, shown.output
        assert "carriedCost=(compute $" in shown.output, "no Python repr (#24)"
        assert "{'" not in shown.output and "None" not in shown.output
        assert "recoveries=1" in shown.output


def test_a_relaunch_refused_moves_on_instead_of_retrying_the_refused_zone(home):
    with time_machine.travel(START, tick=False) as traveller:
        service = make_service(
            home,
            sim_preempt_after=5,
            sim_capacity="aws/us-east-1/us-east-1b/g4dn.xlarge/spot=none",
        )
        out = service.provision(make_request(spot=True, recover=True))
        assert out.zone == "us-east-1a"
        traveller.shift(timedelta(seconds=30))

        result = Reaper(service).sweep()

        assert result.preempted == 1 and result.failed == 0
        again = service.get(out.id)
        assert again.status == "READY" and again.zone == "us-east-1c"
        assert [(a.candidate.zone, a.outcome) for a in again.attempts] == [
            ("us-east-1a", "landed"),
            ("us-east-1b", "failed"),
            ("us-east-1c", "landed"),
        ]


def test_a_relaunch_has_its_own_max_attempts_budget(home):
    """maxAttempts 2: the first launch spends both (1a refused, 1b lands); the relaunch after the
    preemption still gets two (1c refused, 1d lands), as its event says."""
    with time_machine.travel(START, tick=False) as traveller:
        service = make_service(
            home,
            sim_preempt_after=5,
            sim_capacity="aws/us-east-1/us-east-1a/g4dn.xlarge/spot=none,"
            "aws/us-east-1/us-east-1c/g4dn.xlarge/spot=none",
        )
        out = service.provision(make_request(spot=True, recover=True, max_attempts=2))
        assert out.zone == "us-east-1b"
        traveller.shift(timedelta(seconds=30))

        result = Reaper(service).sweep()

        assert result.preempted == 1 and result.failed == 0
        again = service.get(out.id)
        assert again.status == "READY" and again.zone == "us-east-1d"
        assert [(a.candidate.zone, a.outcome) for a in again.attempts] == [
            ("us-east-1a", "failed"),
            ("us-east-1b", "landed"),
            ("us-east-1c", "failed"),
            ("us-east-1d", "landed"),
        ]
        assert any("its own budget of 2 attempts" in d for d in events_all(service, out.id))


def events_all(service: Provisioner, instance_id: str) -> list[str]:
    return [e.detail or "" for e in service.ledger.events(instance_id)]
