"""#25: GCP instances share one VPC network per project (a project's default quota is a handful
of networks, and failover used to make one per attempt). The programs run under FakeCloud, one
fake project for all of them: each stack is `up` while the earlier ones live, as concurrent
instances are."""

from __future__ import annotations

from typing import Any

import pulumi

from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import MockRun, run_program
from stacks import program_for
from stacks.gcp import instance_tag, subnet_cidr
from stacks.spec import InstanceSpec

NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
INSTANCE = "gcp:compute/instance:Instance"


def up(cloud: FakeCloud, spec: InstanceSpec, retained: dict[str, bool]) -> MockRun:
    """Run the program, noting each resource's retain_on_delete (what its destroy leaves)."""

    def note(args: pulumi.ResourceTransformationArgs) -> None:
        retained[f"{spec.stack_name}:{args.type_}:{args.name}"] = bool(args.opts.retain_on_delete)

    def program() -> None:
        pulumi.runtime.register_stack_transformation(note)
        program_for(spec)()

    return run_program(program, cloud, stack=spec.stack_name)


def spec(make_gcp_spec: Any, n: int, **overrides: Any) -> InstanceSpec:
    cidrs = (f"198.51.100.{n}/32",)
    return make_gcp_spec(instance_id=f"inst-{n:04d}", allowed_ssh_cidrs=cidrs, **overrides)


def test_n_concurrent_gcp_instances_in_one_project_declare_at_most_one_network(make_gcp_spec):
    cloud = FakeCloud(seed="one-project")
    retained: dict[str, bool] = {}
    runs = [up(cloud, spec(make_gcp_spec, n), retained) for n in range(1, 7)]
    # A failover attempt of the first instance (stack inst-0001-a2) makes no network either.
    runs.append(up(cloud, spec(make_gcp_spec, 1, attempt=2), retained))

    networks = [r for run in runs for r in run.of_type(NETWORK)]
    assert len(networks) == 1
    assert [len(run.of_type(NETWORK)) for run in runs] == [1, 0, 0, 0, 0, 0, 0]
    assert len([r for run in runs for r in run.of_type(SUBNET)]) == 1
    subnet = runs[0].one(SUBNET)
    for run in runs[1:]:
        (interface,) = run.one(INSTANCE).inputs["networkInterfaces"]
        assert interface["subnetwork"].endswith(f"/subnetworks/{subnet.inputs['name']}")


def test_the_shared_network_outlives_the_stack_that_made_it(make_gcp_spec):
    """The first stack declares the network and subnet retained: its destroy drops them from its
    state and leaves them for the others. Its own firewall rules and VM go with it."""
    cloud = FakeCloud(seed="one-project")
    retained: dict[str, bool] = {}
    up(cloud, spec(make_gcp_spec, 1), retained)
    first = {key.split(":", 1)[1]: value for key, value in retained.items()}
    assert first[f"{NETWORK}:network"] is True
    assert first[f"{SUBNET}:subnet"] is True
    assert first[f"{FIREWALL}:firewall-deny-ingress"] is True
    assert first[f"{INSTANCE}:instance"] is False
    assert first[f"{FIREWALL}:firewall-ssh"] is False


def test_each_instance_opens_ssh_only_to_itself(make_gcp_spec):
    cloud = FakeCloud(seed="one-project")
    retained: dict[str, bool] = {}
    one = up(cloud, spec(make_gcp_spec, 1), retained)
    two = up(cloud, spec(make_gcp_spec, 2), retained)
    for n, run in ((1, one), (2, two)):
        (rule,) = [f for f in run.of_type(FIREWALL) if f.inputs.get("allows")]
        tags = run.one(INSTANCE).inputs["tags"]
        assert rule.inputs["targetTags"] == tags == [instance_tag(spec(make_gcp_spec, n))]
        assert rule.inputs["sourceRanges"] == [f"198.51.100.{n}/32"]
    assert one.one(INSTANCE).inputs["tags"] != two.one(INSTANCE).inputs["tags"]


def test_a_second_region_adds_a_subnetwork_not_a_network(make_gcp_spec):
    cloud = FakeCloud(seed="one-project")
    retained: dict[str, bool] = {}
    central = up(cloud, spec(make_gcp_spec, 1), retained)
    east = up(cloud, spec(make_gcp_spec, 2, region="us-east1", zones=()), retained)
    assert len(central.of_type(NETWORK)) == 1 and east.of_type(NETWORK) == []
    assert east.one(SUBNET).inputs["name"] == "provisioner-us-east1"
    ranges = {central.one(SUBNET).inputs["ipCidrRange"], east.one(SUBNET).inputs["ipCidrRange"]}
    assert len(ranges) == 2, "subnets of one network may not overlap"
    assert subnet_cidr("me-west1") != subnet_cidr("me-central2")
