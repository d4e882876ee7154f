"""#13: the permissions a first real `up` needs, written down (docs/aws-iam-policy.json,
docs/azure-role.json) and kept exact. The programs run under Pulumi's mocks in every shape they
can take; every resource type they declare and every invoke they (and the probes of doctor, up and
recover) call must be in the table below, and the union of the table's actions must be exactly
the policy's. A program that gains a resource fails here until the table and the policy cover it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from preflight_replay import ReplayRunner
from pulumi.runtime import MockCallArgs, MockResourceArgs

from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import run_program
from stacks import program_for
from stacks.probes import AwsProbe
from stacks.spec import InstanceSpec

DOCS = Path(__file__).resolve().parents[2] / "docs"

# What each resource type needs for create, read (refresh), update-in-place and delete, and what
# each invoke reads. AWS: terraform-provider-aws's calls behind pulumi-aws 7.51; Azure: the ARM
# operations at subscription scope behind azure-native 3.29.
AWS_RESOURCES: dict[str, set[str]] = {
    "aws:ec2/instance:Instance": {
        "ec2:RunInstances",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceAttribute",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeInstanceCreditSpecifications",
        "ec2:DescribeVolumes",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeTags",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:ModifyInstanceAttribute",
        "ec2:ModifyInstanceMetadataOptions",
        "ec2:TerminateInstances",
    },
    "aws:ec2/securityGroup:SecurityGroup": {
        "ec2:CreateSecurityGroup",
        "ec2:DescribeSecurityGroups",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:DeleteSecurityGroup",
    },
    "aws:ec2/keyPair:KeyPair": {
        "ec2:ImportKeyPair",
        "ec2:DescribeKeyPairs",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:DeleteKeyPair",
    },
    # #25: the hard-deadline backstop (stacks/aws_backstop.py): a role Scheduler assumes, its
    # one-statement policy, and the one-time schedule.
    "aws:iam/role:Role": {
        "iam:CreateRole",
        "iam:GetRole",
        "iam:TagRole",
        "iam:ListRolePolicies",
        "iam:ListAttachedRolePolicies",
        "iam:ListInstanceProfilesForRole",
        "iam:DeleteRole",
    },
    "aws:iam/rolePolicy:RolePolicy": {
        "iam:PutRolePolicy",
        "iam:GetRolePolicy",
        "iam:DeleteRolePolicy",
    },
    "aws:scheduler/schedule:Schedule": {
        "scheduler:CreateSchedule",
        "scheduler:GetSchedule",
        "scheduler:DeleteSchedule",
        "iam:PassRole",
    },
}
# A spot launch: the first one in an account creates the EC2 Spot service-linked role, and the
# provider reads the spot request back.
AWS_SPOT = {"iam:CreateServiceLinkedRole", "ec2:DescribeSpotInstanceRequests"}
AWS_INVOKES: dict[str, set[str]] = {
    "aws:ec2/getAmi:getAmi": {"ec2:DescribeImages"},
    "aws:ec2/getVpc:getVpc": {
        "ec2:DescribeVpcs",
        "ec2:DescribeVpcAttribute",
        "ec2:DescribeRouteTables",
    },
    "aws:ec2/getVpcs:getVpcs": {"ec2:DescribeVpcs"},
    "aws:ec2/getSubnet:getSubnet": {"ec2:DescribeSubnets"},
    "aws:ec2/getSubnets:getSubnets": {"ec2:DescribeSubnets"},
    "aws:ec2/getInstances:getInstances": {"ec2:DescribeInstances"},
    # Preflight's quota usage (#24): the family's running instances and their vCPUs.
    "aws:ec2/getInstance:getInstance": {"ec2:DescribeInstances"},
    "aws:ec2/getInstanceType:getInstanceType": {"ec2:DescribeInstanceTypes"},
    # The zones that offer the type (#12's failover picks a zone; the program checks it).
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": {
        "ec2:DescribeInstanceTypeOfferings"
    },
    "aws:index/getCallerIdentity:getCallerIdentity": {"sts:GetCallerIdentity"},
    # The data source asks for the AWS default first (GetAWSDefaultServiceQuota), then the
    # applied value (GetServiceQuota): #25, without the first every up was refused.
    "aws:servicequotas/getServiceQuota:getServiceQuota": {
        "servicequotas:GetAWSDefaultServiceQuota",
        "servicequotas:GetServiceQuota",
    },
}
AZURE_RESOURCES: dict[str, set[str]] = {
    "azure-native:resources:ResourceGroup": {
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Resources/subscriptions/resourceGroups/write",
        "Microsoft.Resources/subscriptions/resourceGroups/delete",
    },
    "azure-native:network:VirtualNetwork": {
        "Microsoft.Network/virtualNetworks/read",
        "Microsoft.Network/virtualNetworks/write",
        "Microsoft.Network/virtualNetworks/delete",
    },
    "azure-native:network:Subnet": {
        "Microsoft.Network/virtualNetworks/subnets/read",
        "Microsoft.Network/virtualNetworks/subnets/write",
        "Microsoft.Network/virtualNetworks/subnets/delete",
        "Microsoft.Network/virtualNetworks/subnets/join/action",
        "Microsoft.Network/networkSecurityGroups/join/action",
    },
    "azure-native:network:NetworkSecurityGroup": {
        "Microsoft.Network/networkSecurityGroups/read",
        "Microsoft.Network/networkSecurityGroups/write",
        "Microsoft.Network/networkSecurityGroups/delete",
    },
    "azure-native:network:PublicIPAddress": {
        "Microsoft.Network/publicIPAddresses/read",
        "Microsoft.Network/publicIPAddresses/write",
        "Microsoft.Network/publicIPAddresses/delete",
        "Microsoft.Network/publicIPAddresses/join/action",
    },
    "azure-native:network:NetworkInterface": {
        "Microsoft.Network/networkInterfaces/read",
        "Microsoft.Network/networkInterfaces/write",
        "Microsoft.Network/networkInterfaces/delete",
        "Microsoft.Network/networkInterfaces/join/action",
    },
    "azure-native:compute:VirtualMachine": {
        "Microsoft.Compute/virtualMachines/read",
        "Microsoft.Compute/virtualMachines/write",
        "Microsoft.Compute/virtualMachines/delete",
        "Microsoft.Compute/disks/read",
        "Microsoft.Compute/disks/write",
        "Microsoft.Compute/disks/delete",
    },
    "azure-native:compute:VirtualMachineExtension": {
        "Microsoft.Compute/virtualMachines/extensions/read",
        "Microsoft.Compute/virtualMachines/extensions/write",
        "Microsoft.Compute/virtualMachines/extensions/delete",
    },
    "azure-native:devtestlab:GlobalSchedule": {
        "Microsoft.DevTestLab/schedules/read",
        "Microsoft.DevTestLab/schedules/write",
        "Microsoft.DevTestLab/schedules/delete",
    },
}
# azure-native polls long-running operations at these URLs (#25: without them every create
# and delete that Azure runs asynchronously fails while polling).
AZURE_OPERATIONS = {
    "Microsoft.Compute/locations/operations/read",
    "Microsoft.Network/locations/operations/read",
    "Microsoft.Network/locations/operationResults/read",
    "Microsoft.Resources/subscriptions/operationresults/read",
}
# doctor's and up's ARM reads (provisioner/engine/pulumi/preflight.py), and the engine's own
# (#25, azure_leaks.py): the resource group's listing for the VM-first cleanup after NicInUse
# (its deletes are the resources' own), and a VM's power state for the idle stop.
AZURE_PREFLIGHT = {
    "Microsoft.Resources/subscriptions/providers/read",
    "Microsoft.Compute/locations/usages/read",
    "Microsoft.Resources/subscriptions/resourceGroups/resources/read",
    "Microsoft.Compute/virtualMachines/instanceView/read",
}

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMEMgR02k50mUgkreZfTH914oRZuMYV56LlztoBjLF7L t@e"
BASE: dict[str, Any] = {
    "instance_id": "inst-perm",
    "region": "us-east-1",
    "disk_gb": 50,
    "expires_at": "2026-11-26T11:00:00Z",
    "hard_deadline": "2026-11-26T14:00:00Z",
    "user_id": "alice",
    "ssh_public_key": KEY,
}


class Collecting(FakeCloud):
    def __init__(self) -> None:
        super().__init__(seed="permissions")
        self.types: set[str] = set()
        self.invokes: set[str] = set()

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.typ.startswith("pulumi:providers:"):
            self.types.add(args.typ)
        return super().new_resource(args)

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        self.invokes.add(args.token)
        return super().call(args)


def declared(specs: list[InstanceSpec]) -> Collecting:
    cloud = Collecting()
    for spec in specs:
        run_program(program_for(spec), cloud, stack=spec.instance_id)
    return cloud


def aws_specs() -> list[InstanceSpec]:
    return [
        InstanceSpec(provider="AWS", instance_type="g4dn.xlarge", **BASE),
        InstanceSpec(
            provider="AWS",
            instance_type="g5.xlarge",
            **{**BASE, "ssh_public_key": None},
            allowed_ssh_cidrs=("203.0.113.0/24", "2001:db8::/32"),
            subnet_id="subnet-0123456789abcdef0",
            image="ami-0123456789abcdef0",
            root_disk_gb=75,
            spot=True,
        ),
    ]


def azure_specs() -> list[InstanceSpec]:
    base = {**BASE, "region": "eastus"}
    return [
        InstanceSpec(provider="AZURE", instance_type="Standard_NC4as_T4_v3", **base),
        InstanceSpec(
            provider="AZURE",
            instance_type="Standard_NV36ads_A10_v5",
            **base,
            allowed_ssh_cidrs=("203.0.113.0/24",),
            gpu_driver_extension="NvidiaGpuDriverLinux",
        ),
        InstanceSpec(
            provider="AZURE", instance_type="Standard_NC4as_T4_v3", **base, spot=True, zone="1"
        ),
    ]


def probe_invokes() -> set[str]:
    runner = ReplayRunner({"*": {"result": {"ids": [], "value": 8}}})
    runner(AwsProbe(region="us-east-1", quota_codes=("L-DB2E81BA",), instance_id="inst-perm"))
    runner(AwsProbe(region="us-east-1", subnet_id="subnet-0123456789abcdef0"))
    return {key.split(" ", 1)[0] for key in runner.mocks.asked}


def policy_actions() -> set[str]:
    policy = json.loads((DOCS / "aws-iam-policy.json").read_text())
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def test_every_aws_resource_and_invoke_is_in_the_table() -> None:
    cloud = declared(aws_specs())
    assert cloud.types - set(AWS_RESOURCES) == set(), "add these to AWS_RESOURCES and the policy"
    invokes = cloud.invokes | probe_invokes()
    assert invokes - set(AWS_INVOKES) == set(), "add these to AWS_INVOKES and the policy"
    assert {"aws:ec2/instance:Instance", "aws:ec2/keyPair:KeyPair"} <= cloud.types


def test_the_aws_policy_has_exactly_the_actions_the_programs_and_doctor_use() -> None:
    cloud = declared(aws_specs())
    invokes = cloud.invokes | probe_invokes()
    needed = set().union(*(AWS_RESOURCES[t] for t in cloud.types))
    needed |= set().union(*(AWS_INVOKES[i] for i in invokes))
    if any(spec.spot for spec in aws_specs()):
        needed |= AWS_SPOT
    assert policy_actions() == needed


def test_the_aws_policy_is_valid_iam_json() -> None:
    policy = json.loads((DOCS / "aws-iam-policy.json").read_text())
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == sorted(statement["Action"])


def test_every_azure_resource_is_in_the_table_and_the_role_is_exact() -> None:
    cloud = declared(azure_specs())
    assert cloud.types - set(AZURE_RESOURCES) == set(), "add these to AZURE_RESOURCES and the role"
    needed = set().union(*(AZURE_RESOURCES[t] for t in cloud.types)) | AZURE_PREFLIGHT
    needed |= AZURE_OPERATIONS
    role = json.loads((DOCS / "azure-role.json").read_text())
    assert set(role["Actions"]) == needed
    assert role["Actions"] == sorted(role["Actions"])
    assert role["AssignableScopes"] == ["/subscriptions/00000000-0000-0000-0000-000000000000"]
    assert role["NotActions"] == [] and role["DataActions"] == []


def aws_needed() -> set[str]:
    cloud = declared(aws_specs())
    needed = set().union(*(AWS_RESOURCES[t] for t in cloud.types))
    needed |= set().union(*(AWS_INVOKES[i] for i in cloud.invokes | probe_invokes()))
    return needed | AWS_SPOT


def test_removing_any_one_action_from_the_aws_policy_is_caught() -> None:
    """The check above is exact, so the policy minus any one action no longer covers the
    programs: each removal is named as missing."""
    needed, actions = aws_needed(), policy_actions()
    assert needed <= actions
    for action in sorted(actions):
        assert needed - (actions - {action}) == {action}, action


def test_aws_mutations_only_on_our_tags_and_tags_only_at_launch() -> None:
    policy = json.loads((DOCS / "aws-iam-policy.json").read_text())
    mutations = {
        "ec2:TerminateInstances",
        "ec2:ModifyInstanceAttribute",
        "ec2:ModifyInstanceMetadataOptions",
        "ec2:DeleteSecurityGroup",
        "ec2:DeleteKeyPair",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
    }
    for statement in policy["Statement"]:
        granted = set(statement["Action"])
        condition = json.dumps(statement.get("Condition") or {})
        if granted & mutations:
            assert "aws:ResourceTag/provisioner:managed-by" in condition, statement["Sid"]
        if "ec2:CreateTags" in granted:
            assert "ec2:CreateAction" in condition, statement["Sid"]
        if "iam:CreateServiceLinkedRole" in granted:
            assert "spot.amazonaws.com" in condition and "spot.amazonaws.com" in str(
                statement["Resource"]
            )
        if any(a.startswith(("iam:", "scheduler:Create", "scheduler:Delete")) for a in granted):
            assert statement["Resource"] != "*", statement["Sid"]


def test_removing_any_one_action_from_the_azure_role_is_caught() -> None:
    cloud = declared(azure_specs())
    needed = set().union(*(AZURE_RESOURCES[t] for t in cloud.types))
    needed |= AZURE_PREFLIGHT | AZURE_OPERATIONS
    actions = set(json.loads((DOCS / "azure-role.json").read_text())["Actions"])
    for action in sorted(actions):
        assert needed - (actions - {action}) == {action}, action
