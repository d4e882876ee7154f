"""The service end to end: simulated engine, real SQLite ledger, a fake clock."""

import ipaddress
import json
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from factories import ED25519_KEY, azure_request, make_request

from provisioner.config import Settings
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import (
    ConflictError,
    DestroyFailedError,
    ProvisioningFailedError,
    ValidationError,
)
from provisioner.rules.lifecycle import Status

DOC_NET = ipaddress.ip_network("203.0.113.0/24")


def sim_stack(settings: Settings, instance_id: str) -> dict:
    return json.loads((settings.home / "simulated-stacks" / f"{instance_id}.json").read_text())


def test_seed_aws_example_reaches_ready_with_seed_price(service, settings, clock):
    instance = service.provision(make_request())
    assert instance.status == "READY"
    assert instance.cost_per_hour == 0.526
    assert instance.engine == "simulated"
    assert ipaddress.ip_address(instance.public_ip) in DOC_NET
    assert ipaddress.ip_address(instance.private_ip) in ipaddress.ip_network("10.0.0.0/8")
    assert instance.cloud_instance_id.startswith("i-")
    assert instance.expires_at == clock.now + timedelta(minutes=30)
    assert instance.hard_deadline == clock.now + timedelta(minutes=240)
    assert instance.ready_at == clock.now
    assert instance.total_cost == 0
    notes = ("instance:warning", "instance:readiness")  # remarks, not state changes
    statuses = [e.status for e in service.events(instance.id) if e.type not in notes]
    assert statuses == ["PROVISIONING", "CONFIGURING", "READY"]
    types = {r["type"] for r in sim_stack(settings, instance.id)["resources"]}
    assert {"aws:ec2/securityGroup:SecurityGroup", "aws:ec2/instance:Instance"} <= types


def test_seed_azure_example_has_the_seed_metadata_and_tags(service):
    instance = service.provision(azure_request())
    assert instance.cost_per_hour == 0.9
    assert instance.provider == "AZURE" and instance.region == "eastus"
    assert instance.metadata["location"] == "eastus"
    assert instance.metadata["vmSize"] == "Standard_NC6"
    assert instance.metadata["resourceGroup"]
    assert instance.tags == {"environment": "production", "project": "medical-analysis"}
    # NC6 is retired: provisioning warns (the simulation still goes through).
    warnings = [e.detail for e in service.events(instance.id) if e.type == "instance:warning"]
    assert warnings and "retired" in warnings[0]


# 50 GB of gp3 at $0.08/GB-month for half an hour of a 730-hour month.
# The DLAMI's 75 GB root plus the 50 GB data disk, both gp3 (#13).
AWS_DISK_30_MIN = (75 + 50) * 0.08 * 0.5 / 730
# And its public IPv4 address, $0.005/hour on AWS and Azure (#24).
IPV4_30_MIN = 0.0025


def test_cost_accrues_with_the_clock_and_freezes_at_termination(service, clock):
    instance = service.provision(make_request())
    clock.advance(minutes=30)
    assert service.get(instance.id).cost_breakdown.compute == pytest.approx(0.263)
    assert service.get(instance.id).total_cost == pytest.approx(
        0.263 + AWS_DISK_30_MIN + IPV4_30_MIN, abs=1e-6
    )
    done = service.terminate(instance.id)
    assert done.status == "TERMINATED"
    assert done.terminated_at == clock.now
    assert done.total_cost == pytest.approx(0.263 + AWS_DISK_30_MIN + IPV4_30_MIN, abs=1e-6)
    clock.advance(hours=5)
    assert service.get(instance.id).total_cost == pytest.approx(
        0.263 + AWS_DISK_30_MIN + IPV4_30_MIN, abs=1e-6
    )
    assert [e.status for e in service.events(instance.id)][-2:] == ["STOPPING", "TERMINATED"]


def test_terminate_destroys_every_simulated_resource(service, settings):
    instance = service.provision(make_request())
    service.terminate(instance.id)
    assert sim_stack(settings, instance.id)["resources"] == []
    # A second terminate is a no-op, not an error.
    assert service.terminate(instance.id).status == "TERMINATED"


@pytest.mark.parametrize(
    ("request_factory", "kind", "code"),
    [
        (make_request, "capacity", "InsufficientInstanceCapacity"),
        (
            lambda: azure_request(instance_type="Standard_NC4as_T4_v3"),
            "capacity",
            "SkuNotAvailable",
        ),
        # The seed's Standard_NC6 is retired: Azure's SkuNotAvailable for it means "retired" (#13).
        (azure_request, "retired", "SkuNotAvailable"),
        (make_request, "quota", "VcpuLimitExceeded"),
        (azure_request, "quota", "OperationNotAllowed"),
        (make_request, "error", "ERROR"),
    ],
)
def test_failed_up_destroys_what_it_created_and_records_the_cause(
    home, clock, request_factory, kind, code
):
    fail_kind = "capacity" if kind == "retired" else kind
    settings = Settings(home=home, engine="simulated", sim_fail_up=1, sim_fail_kind=fail_kind)
    service = Provisioner(settings, clock=clock)
    with pytest.raises(ProvisioningFailedError) as err:
        # One candidate: failover across zones (#12) is tested in test_capacity.py.
        service.provision(replace(request_factory(), max_attempts=1))
    assert err.value.kind == kind
    [failed] = service.list()
    assert failed.status == "FAILED"
    assert failed.error_code == code
    assert failed.error.startswith(f"{kind}: [simulated]")
    assert failed.terminated_at == clock.now
    stack = sim_stack(settings, failed.id)
    assert stack["resources"] == [], "a failed up must leave nothing billing"
    events = service.events(failed.id)
    assert events[-1].status == "FAILED" and "destroyed" in events[-1].detail


def test_failed_destroy_keeps_the_instance_visibly_alive_and_accruing(home, clock):
    failing = Provisioner(Settings(home=home, engine="simulated", sim_fail_destroy=1), clock=clock)
    instance = failing.provision(make_request())
    clock.advance(minutes=10)
    with pytest.raises(DestroyFailedError):
        failing.terminate(instance.id)
    stuck = failing.get(instance.id)
    assert stuck.status == "STOPPING"
    assert stuck.terminated_at is None
    assert "still bill" in stuck.error
    clock.advance(minutes=20)
    assert failing.get(instance.id).cost_breakdown.compute == pytest.approx(0.263)
    assert failing.statistics().currently_running == 1
    # Later, without the fault, the same command finishes the job.
    healthy = Provisioner(Settings(home=home, engine="simulated"), clock=clock)
    done = healthy.terminate(instance.id)
    assert done.status == "TERMINATED" and done.error is None
    assert sim_stack(healthy.settings, instance.id)["resources"] == []


def test_failed_up_whose_cleanup_also_fails_stays_billing_until_retried(home, clock):
    settings = Settings(
        home=home, engine="simulated", sim_fail_up=1, sim_fail_destroy=1, sim_fail_kind="capacity"
    )
    service = Provisioner(settings, clock=clock)
    with pytest.raises(ProvisioningFailedError):
        service.provision(make_request())
    [failed] = service.list()
    assert failed.status == "FAILED" and failed.terminated_at is None
    assert "still billing" in failed.error
    assert sim_stack(settings, failed.id)["resources"], "partial resources remain on record"
    retried = Provisioner(Settings(home=home, engine="simulated"), clock=clock)
    cleaned = retried.terminate(failed.id)
    assert cleaned.status == "FAILED" and cleaned.terminated_at == clock.now
    assert sim_stack(settings, failed.id)["resources"] == []


def test_running_and_ready_are_set_by_the_user_and_illegal_moves_refused(service):
    instance = service.provision(make_request())
    assert service.set_status(instance.id, "running").status == "RUNNING"
    assert service.set_status(instance.id, "READY").status == "READY"
    with pytest.raises(ValidationError):  # bad input, not a conflict (#27)
        service.set_status(instance.id, "TERMINATED")
    service.terminate(instance.id)
    with pytest.raises(Exception, match="TERMINATED; it cannot move to RUNNING"):
        service.set_status(instance.id, "RUNNING")


def test_seed_events_are_emitted_in_order(service, clock):
    seen = []
    service.on("*", lambda e: seen.append(e["type"]))
    ready = []
    service.on("instance:ready", ready.append)
    terminated = []
    service.on("instance:terminated", terminated.append)
    instance = service.provision(make_request())
    clock.advance(minutes=30)
    service.terminate(instance.id)
    assert seen == [
        "instance:provisioning",
        "instance:configuring",
        "instance:ready",
        "instance:stopping",
        "instance:terminated",
    ]
    assert ready[0]["instanceId"] == instance.id
    assert terminated[0]["totalCost"] == pytest.approx(
        0.263 + AWS_DISK_30_MIN + IPV4_30_MIN, abs=1e-6
    )


def test_a_failing_event_handler_does_not_break_provisioning(service):
    service.on("instance:ready", lambda e: 1 / 0)
    assert service.provision(make_request()).status == "READY"


def test_statistics_follow_the_seed_definitions(service, clock):
    aws = service.provision(make_request())
    azure = service.provision(azure_request(user_id="user-456"))
    clock.advance(minutes=30)
    service.terminate(aws.id)
    clock.advance(minutes=90)
    service.terminate(azure.id)
    everyone = service.statistics()
    assert everyone.total_provisioned == 2
    assert everyone.currently_running == 0
    # An Azure 100 GB Premium SSD is a P10 ($19.71/month), here for 2 of 730 hours.
    disks = AWS_DISK_30_MIN + 19.71 * 2 / 730
    ipv4 = IPV4_30_MIN + 0.01  # the two addresses, counted with compute in sums (#24)
    assert everyone.cost_breakdown.compute == pytest.approx(0.263 + 1.80 + ipv4)
    assert everyone.cost_breakdown.storage == pytest.approx(disks, abs=1e-6)
    assert everyone.total_cost == pytest.approx(0.263 + 1.80 + ipv4 + disks, abs=1e-6)
    assert everyone.average_duration == pytest.approx(1.25)
    assert everyone.average_cost == pytest.approx(everyone.total_cost / 2, abs=1e-6)
    assert everyone.provider_breakdown == {"AWS": 1, "AZURE": 1}
    assert everyone.instance_type_breakdown == {"Standard_NC6": 1, "g4dn.xlarge": 1}
    mine = service.statistics("user-123")
    assert mine.total_provisioned == 1
    assert mine.total_cost == pytest.approx(0.263 + AWS_DISK_30_MIN + IPV4_30_MIN, abs=1e-6)


def test_list_filters_by_user_status_and_task(service):
    a = service.provision(make_request())
    b = service.provision(make_request(user_id="someone-else", task_id="other"))
    service.terminate(b.id)
    assert [i.id for i in service.list("user-123")] == [a.id]
    assert [i.id for i in service.list(status="TERMINATED")] == [b.id]
    assert [i.id for i in service.list(task_id="other")] == [b.id]


def test_instances_keep_the_engine_that_made_them(home, clock):
    simulated = Provisioner(Settings(home=home, engine="simulated"), clock=clock)
    instance = simulated.provision(make_request())
    # The default engine is now pulumi (no CLI here), yet down still uses the simulation.
    later = Provisioner(Settings(home=home, engine="pulumi"), clock=clock)
    assert later.terminate(instance.id).status == "TERMINATED"
    assert later.history(instance.id) is None


def test_ssh_key_and_cidrs_reach_the_program(service, settings):
    instance = service.provision(
        make_request(ssh_public_key=ED25519_KEY, allowed_ssh_cidrs=("198.51.100.0/24",))
    )
    stack = sim_stack(settings, instance.id)
    assert any(r["type"] == "aws:ec2/keyPair:KeyPair" for r in stack["resources"])
    row = service.ledger.require(instance.id)
    assert row.allowed_ssh_cidrs == ["198.51.100.0/24"]
    assert row.ssh_key_fingerprint.startswith("SHA256:")


def test_azure_without_a_key_gets_its_own_key_pair(service, settings):
    """#11: no longer a throwaway nobody holds: a per-instance pair whose private half stays in
    <home>/keys (0600) and whose public half and fingerprint are all the ledger keeps."""
    from provisioner.remote import keys

    instance = service.provision(azure_request(instance_type="Standard_NC4as_T4_v3"))
    assert instance.status == "READY"
    stored = service.ledger.require(instance.id).ssh_public_key
    assert stored is not None and stored.startswith("ssh-ed25519 ")
    assert "PRIVATE" not in stored
    assert keys.key_path(settings.home, instance.id).stat().st_mode & 0o777 == 0o600
    assert instance.ssh_user == "azureuser" and instance.ssh_key_fingerprint


def test_concurrent_provisions_from_threads_each_get_their_own_stack(service):
    results, errors = [], []

    def provision(n: int) -> None:
        try:
            results.append(service.provision(make_request(task_id=f"task-{n}")))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=provision, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.id for r in results}) == 6
    assert all(r.status == "READY" for r in results)
    assert len({r.cloud_instance_id for r in results}) == 6


def test_provisioning_instances_cannot_be_terminated_midway(service):
    pending = service.begin_provision(make_request())
    with pytest.raises(ConflictError, match="still PROVISIONING"):
        service.terminate(pending.id)
    assert service.run_provision(pending.id).status == Status.READY.value
