"""The AWS program under FakeCloud: what it declares, checked for money and security."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime
from typing import Any

import pytest
from pulumi.runtime import MockCallArgs

from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import run_program
from stacks import program_for
from stacks.deadman import shutdown_script
from stacks.disks import data_disk_script
from stacks.spec import (
    OUTPUT_NAMES,
    TAG_EXPIRES_AT,
    TAG_INSTANCE_ID,
    TAG_MANAGED_BY,
    TAG_STACK,
    TAG_TASK_ID,
    TAG_USER_ID,
)

INSTANCE = "aws:ec2/instance:Instance"
SG = "aws:ec2/securityGroup:SecurityGroup"
KEY_PAIR = "aws:ec2/keyPair:KeyPair"


def invoked(run, token):
    return [args for tok, args in run.invokes if tok == token]


def all_ingress_cidrs(run):
    return [
        cidr
        for rule in run.one(SG).inputs.get("ingress") or []
        for cidr in [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]
    ]


def test_no_ingress_at_all_by_default(make_spec, run):
    result = run(make_spec())
    assert result.one(SG).inputs["ingress"] == []


@pytest.mark.parametrize(
    "cidrs",
    [(), ("198.51.100.7/32",), ("2001:db8::/48",), ("198.51.100.0/24", "2001:db8::1/128")],
)
def test_the_world_is_never_let_in_unless_asked(make_spec, run, cidrs):
    result = run(make_spec(allowed_ssh_cidrs=cidrs))
    assert "0.0.0.0/0" not in all_ingress_cidrs(result)
    assert "::/0" not in all_ingress_cidrs(result)


def test_ingress_is_exactly_ssh_from_the_given_cidrs(make_spec, run):
    result = run(make_spec(allowed_ssh_cidrs=("198.51.100.7", "192.0.2.0/24", "2001:db8:1::/48")))
    assert result.one(SG).inputs["ingress"] == [
        {
            "description": "SSH from allowed CIDRs",
            "protocol": "tcp",
            "fromPort": 22,
            "toPort": 22,
            "cidrBlocks": ["198.51.100.7/32", "192.0.2.0/24"],
            "ipv6CidrBlocks": ["2001:db8:1::/48"],
        }
    ]


def test_ipv6_only_cidrs_open_no_ipv4(make_spec, run):
    (rule,) = run(make_spec(allowed_ssh_cidrs=("2001:db8::/32",))).one(SG).inputs["ingress"]
    assert "cidrBlocks" not in rule
    assert rule["ipv6CidrBlocks"] == ["2001:db8::/32"]


def test_the_world_passes_through_when_explicitly_asked(make_spec, run):
    result = run(make_spec(allowed_ssh_cidrs=("0.0.0.0/0",)))
    assert all_ingress_cidrs(result) == ["0.0.0.0/0"]


def test_egress_is_open(make_spec, run):
    (rule,) = run(make_spec()).one(SG).inputs["egress"]
    assert rule["protocol"] == "-1"
    assert (rule["fromPort"], rule["toPort"]) == (0, 0)
    assert rule["cidrBlocks"] == ["0.0.0.0/0"]
    assert rule["ipv6CidrBlocks"] == ["::/0"]


def test_instance_requires_imdsv2(make_spec, run):
    options = run(make_spec()).one(INSTANCE).inputs["metadataOptions"]
    assert options == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    }


def test_root_keeps_the_image_size_and_the_asked_size_is_an_encrypted_data_disk(make_spec, run):
    instance = run(make_spec(disk_gb=123, root_disk_gb=75)).one(INSTANCE).inputs
    assert instance["rootBlockDevice"] == {
        "volumeType": "gp3",
        "volumeSize": 75,
        "encrypted": True,
        "deleteOnTermination": True,
    }
    assert instance["ebsBlockDevices"] == [
        {
            "deviceName": "/dev/sdf",
            "volumeType": "gp3",
            "volumeSize": 123,
            "encrypted": True,
            "deleteOnTermination": True,
        }
    ]


def test_the_seed_example_gets_disks_ec2_accepts_for_the_dlami(make_spec, run):
    """The seed's AWS example: 50 GB on g4dn.xlarge in us-east-1. EC2 refuses a root volume
    smaller than the AMI's root snapshot (the DLAMI's is 75 GB); the 50 GB is the data disk."""
    from provisioner.engine.simulated.fakecloud import DLAMI_ROOT_SNAPSHOT_GB
    from provisioner.rules.catalog import load_catalog

    image = load_catalog().image_for("AWS", "g4dn.xlarge")
    assert image is not None and image.root_disk_gb >= DLAMI_ROOT_SNAPSHOT_GB
    spec = make_spec(disk_gb=50, instance_type="g4dn.xlarge", root_disk_gb=image.root_disk_gb)
    inputs = run(spec).one(INSTANCE).inputs
    assert inputs["rootBlockDevice"]["volumeSize"] >= DLAMI_ROOT_SNAPSHOT_GB
    assert [d["volumeSize"] for d in inputs["ebsBlockDevices"]] == [50]


class BigSnapshotCloud(FakeCloud):
    """An AMI whose root snapshot (120 GB) is bigger than the catalog's root size."""

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        answer = super().call(args)
        if args.token == "aws:ec2/getAmi:getAmi":
            answer["blockDeviceMappings"][0]["ebs"]["volume_size"] = "120"
        return answer


def test_the_root_is_the_ami_snapshot_size_when_that_is_bigger(make_spec):
    """#25: a bigger DLAMI snapshot than the catalog's 75 GB must not fail every up with
    InvalidBlockDeviceMapping: the root is max(requested, the AMI's root snapshot)."""
    for spec in (make_spec(root_disk_gb=75), make_spec(image="ami-0123456789abcdef0")):
        result = run_program(program_for(spec), BigSnapshotCloud(seed="big"))
        instance = result.one(INSTANCE).inputs
        assert instance["rootBlockDevice"]["volumeSize"] == 120
        assert result.outputs["metadata"]["rootDiskGb"] == 120


def test_the_root_keeps_a_requested_size_above_the_snapshot(make_spec, run):
    from provisioner.engine.simulated.fakecloud import DLAMI_ROOT_SNAPSHOT_GB

    root = run(make_spec(root_disk_gb=DLAMI_ROOT_SNAPSHOT_GB + 25)).one(INSTANCE).inputs
    assert root["rootBlockDevice"]["volumeSize"] == DLAMI_ROOT_SNAPSHOT_GB + 25


def test_a_given_ami_is_sized_from_its_own_snapshot(make_spec, run):
    from provisioner.engine.simulated.fakecloud import DLAMI_ROOT_SNAPSHOT_GB

    result = run(make_spec(image="ami-0123456789abcdef0"))
    assert result.one(INSTANCE).inputs["ami"] == "ami-0123456789abcdef0"
    root = result.one(INSTANCE).inputs["rootBlockDevice"]
    assert root["volumeSize"] == DLAMI_ROOT_SNAPSHOT_GB


SCHEDULE = "aws:scheduler/schedule:Schedule"


def test_the_hard_deadline_is_a_schedule_that_terminates_the_instance(make_spec, run):
    """#25: the cloud-side backstop the VM cannot cancel: a one-time EventBridge Scheduler
    schedule at the hard deadline, calling TerminateInstances on this instance only, through a
    role that may do nothing else."""
    spec = make_spec(hard_deadline="2025-06-01T15:45:00Z", attempt=3)
    result = run(spec)
    schedule = result.one(SCHEDULE).inputs
    instance = result.one(INSTANCE)
    assert schedule["scheduleExpression"] == "at(2025-06-01T15:45:00)"
    assert schedule["scheduleExpressionTimezone"] == "UTC"
    assert schedule["flexibleTimeWindow"] == {"mode": "OFF"}
    assert schedule["actionAfterCompletion"] == "DELETE"
    assert schedule["name"] == "provisioner-inst-0001-a3-deadline"
    target = schedule["target"]
    assert target["arn"] == "arn:aws:scheduler:::aws-sdk:ec2:terminateInstances"
    assert json.loads(target["input"]) == {"InstanceIds": [instance.id]}
    role = result.one("aws:iam/role:Role")
    assert target["roleArn"] == role.state["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    policy = json.loads(result.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Action"] == "ec2:TerminateInstances"
    assert statement["Resource"] == instance.state["arn"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:ResourceTag/provisioner:managed-by": "provisioner"}
    }


def test_the_vm_create_has_a_timeout_shorter_than_the_watchdog_grace(make_spec, run):
    from provisioner.engine.pulumi.engine import PulumiEngine
    from stacks.spec import VM_CREATE_TIMEOUT_MINUTES

    assert PulumiEngine.cancel_grace_seconds > VM_CREATE_TIMEOUT_MINUTES * 60


def test_an_os_shutdown_terminates_the_instance(make_spec, run):
    inputs = run(make_spec()).one(INSTANCE).inputs
    assert inputs["instanceInitiatedShutdownBehavior"] == "terminate"


def test_user_data_is_the_deadman_and_the_data_disk_and_nothing_else(make_spec, run):
    spec = make_spec(
        hard_deadline="2025-06-01T15:45:00Z",
        instance_id="inst-ud",
        user_id="alice",
        task_id="task-xyz",
        tags={"purpose": "$(rm -rf /)", "note": "`reboot`; echo pwned"},
    )
    user_data = run(spec).one(INSTANCE).inputs["userData"]
    assert user_data.startswith(shutdown_script("2025-06-01T15:45:00Z"))
    assert user_data.endswith(data_disk_script())  # after #11's activity dir, before any setup
    assert "mount /data" in user_data
    epoch = int(datetime.fromisoformat("2025-06-01T15:45:00+00:00").timestamp())
    assert f"deadline={epoch}\n" in user_data
    assert 'shutdown -h "+$minutes"' in user_data
    for user_controlled in ("rm -rf", "reboot", "pwned", "alice", "task-xyz", "inst-ud"):
        assert user_controlled not in user_data


def test_key_pair_only_when_a_key_is_given(make_spec, run):
    with_key = run(make_spec(instance_id="inst-k"))
    key = with_key.one(KEY_PAIR)
    assert key.inputs["publicKey"] == make_spec().ssh_public_key
    assert key.inputs["keyName"] == "provisioner-inst-k"
    assert with_key.one(INSTANCE).inputs["keyName"] == "provisioner-inst-k"

    without = run(make_spec(ssh_public_key=None))
    assert without.of_type(KEY_PAIR) == []
    assert "keyName" not in without.one(INSTANCE).inputs


def test_instance_type_and_region_are_passed(make_spec, run):
    result = run(make_spec(instance_type="p4d.24xlarge", region="eu-west-1"))
    assert result.one(INSTANCE).inputs["instanceType"] == "p4d.24xlarge"
    provider = result.one("pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-west-1"
    assert "defaultTags" not in provider.inputs
    assert result.outputs["metadata"]["availabilityZone"] == "eu-west-1a"


def test_default_ami_is_looked_up_from_amazon(make_spec, run):
    result = run(make_spec())
    (query,) = invoked(result, "aws:ec2/getAmi:getAmi")
    assert query["owners"] == ["amazon"]
    assert query["mostRecent"] is True
    filters = {f["name"]: f["values"] for f in query["filters"]}
    assert filters == {
        "name": ["Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)*"],
        "architecture": ["x86_64"],
        "state": ["available"],
    }
    ami = result.one(INSTANCE).inputs["ami"]
    assert re.fullmatch(r"ami-[0-9a-f]{17}", ami)
    assert result.outputs["metadata"]["amiId"] == ami


def test_ami_override_is_used_and_looked_up_only_by_its_id(make_spec, run):
    result = run(make_spec(image="ami-0123456789abcdef0"))
    assert result.one(INSTANCE).inputs["ami"] == "ami-0123456789abcdef0"
    (lookup,) = invoked(result, "aws:ec2/getAmi:getAmi")
    assert lookup["filters"] == [{"name": "image-id", "values": ["ami-0123456789abcdef0"]}]
    assert result.outputs["metadata"]["amiId"] == "ami-0123456789abcdef0"


def test_default_vpc_and_the_default_subnet_of_the_first_zone_offering_the_type(make_spec, run):
    result = run(make_spec(instance_type="g5.xlarge"))
    assert invoked(result, "aws:ec2/getVpc:getVpc") == [{"default": True}]
    vpc_id = result.outputs["metadata"]["vpcId"]
    (offerings,) = invoked(result, "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings")
    assert offerings["locationType"] == "availability-zone"
    assert offerings["filters"] == [{"name": "instance-type", "values": ["g5.xlarge"]}]
    (query,) = invoked(result, "aws:ec2/getSubnets:getSubnets")
    assert {f["name"]: f["values"] for f in query["filters"]} == {
        "vpc-id": [vpc_id],
        "default-for-az": ["true"],
        "availability-zone": ["us-east-1a", "us-east-1b", "us-east-1c"],
    }
    assert result.one(INSTANCE).inputs["availabilityZone"] == "us-east-1a"
    subnet_id = result.one(INSTANCE).inputs["subnetId"]
    assert re.fullmatch(r"subnet-[0-9a-f]{17}", subnet_id)
    assert result.one(SG).inputs["vpcId"] == vpc_id
    assert result.outputs["metadata"]["subnetId"] == subnet_id


def test_subnet_override_is_used_and_its_vpc_looked_up(make_spec, run):
    result = run(make_spec(subnet_id="subnet-0aaaabbbbccccdddd"))
    assert result.one(INSTANCE).inputs["subnetId"] == "subnet-0aaaabbbbccccdddd"
    assert invoked(result, "aws:ec2/getSubnet:getSubnet") == [{"id": "subnet-0aaaabbbbccccdddd"}]
    assert invoked(result, "aws:ec2/getVpc:getVpc") == []
    assert invoked(result, "aws:ec2/getSubnets:getSubnets") == []
    vpc_id = result.outputs["metadata"]["vpcId"]
    assert re.fullmatch(r"vpc-[0-9a-f]{17}", vpc_id)
    assert result.one(SG).inputs["vpcId"] == vpc_id


def test_tags_on_instance_volumes_security_group_and_key_pair(make_spec, run):
    spec = make_spec(instance_id="inst-t", user_id="bob", task_id="task-9", tags={"team": "nlp"})
    result = run(spec)
    expected = {
        "team": "nlp",
        "Name": "provisioner-inst-t",
        TAG_INSTANCE_ID: "inst-t",
        TAG_USER_ID: "bob",
        TAG_TASK_ID: "task-9",
        TAG_EXPIRES_AT: spec.expires_at,
        TAG_MANAGED_BY: "provisioner",
        TAG_STACK: "inst-t",
    }
    instance = result.one(INSTANCE).inputs
    assert instance["tags"] == expected
    assert instance["volumeTags"] == expected
    assert result.one(SG).inputs["tags"] == expected
    assert result.one(KEY_PAIR).inputs["tags"] == expected


def test_outputs(make_spec, run):
    result = run(make_spec(region="us-west-2", instance_type="g5.xlarge"))
    outputs = result.outputs
    assert set(outputs) == set(OUTPUT_NAMES)
    assert ipaddress.ip_address(outputs["publicIp"]) in ipaddress.ip_network("203.0.113.0/24")
    assert ipaddress.ip_address(outputs["privateIp"]) in ipaddress.ip_network("10.0.0.0/8")
    instance = result.one(INSTANCE)
    assert re.fullmatch(r"i-[0-9a-f]{17}", outputs["cloudInstanceId"])
    assert outputs["cloudInstanceId"] == instance.id
    metadata = outputs["metadata"]
    assert metadata == {
        "region": "us-west-2",
        "availabilityZone": "us-west-2a",
        "zone": "us-west-2a",
        "spot": False,
        "instanceType": "g5.xlarge",
        "amiId": instance.inputs["ami"],
        "securityGroupId": result.one(SG).id,
        "subnetId": instance.inputs["subnetId"],
        "vpcId": result.one(SG).inputs["vpcId"],
        "dataMount": "/data",
        "rootDiskGb": 75,
        "deadlineSchedule": "provisioner-inst-0001-deadline",
    }
    assert re.fullmatch(r"sg-[0-9a-f]{17}", metadata["securityGroupId"])


def test_the_user_data_is_valid_shell(make_spec, run):
    import subprocess

    user_data = run(make_spec(root_disk_gb=75)).one(INSTANCE).inputs["userData"]
    checked = subprocess.run(["sh", "-n"], input=user_data, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr
