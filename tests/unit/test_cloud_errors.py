"""The error table against the providers' own wording (each message quoted from its source)."""

from __future__ import annotations

import pytest

from provisioner.rules.cloud_errors import (
    CLOUD_ERROR_CODES,
    FailureClass,
    advice,
    classify,
    quota_name,
)

# (provider, recorded message as the provider words it (through Pulumi's error text), class, code)
# Sources: AWS EC2 API error codes (docs.aws.amazon.com/AWSEC2/latest/APIReference/
# errors-overview.html), EC2 launch troubleshooting (.../UserGuide/troubleshooting-launch.html),
# Spot request status (.../UserGuide/spot-request-status.html); Azure allocation failures
# (learn.microsoft.com/.../virtual-machines/windows/allocation-failure), SkuNotAvailable
# (.../troubleshooting/error-sku-not-available), quota (.../troubleshooting/error-resource-quota),
# RBAC troubleshooting (.../role-based-access-control/troubleshooting).
RECORDED = [
    (
        "AWS",
        "creating EC2 Instance: operation error EC2: RunInstances, https response error "
        "StatusCode: 500, api error InsufficientInstanceCapacity: We currently do not have "
        "sufficient g5.xlarge capacity in the Availability Zone you requested (us-east-1a). Our "
        "system will be working on provisioning additional capacity. You can currently get "
        "g5.xlarge capacity by not specifying an Availability Zone in your request or choosing "
        "us-east-1b, us-east-1c, us-east-1d, us-east-1f.",
        FailureClass.CAPACITY,
        "InsufficientInstanceCapacity",
    ),
    (
        "AWS",
        "creating EC2 Instance: operation error EC2: RunInstances, api error Unsupported: Your "
        "requested instance type (g5.xlarge) is not supported in your requested Availability "
        "Zone (us-east-1e). Please retry your request by not specifying an Availability Zone "
        "or choosing us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1f.",
        FailureClass.ZONE_UNSUPPORTED,
        "Unsupported",
    ),
    (
        "AWS",
        "api error VcpuLimitExceeded: You have requested more vCPU capacity than your current "
        "vCPU limit of 0 allows for the instance bucket that the specified instance type "
        "belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an "
        "adjustment to this limit.",
        FailureClass.QUOTA,
        "VcpuLimitExceeded",
    ),
    (
        "AWS",
        "api error MaxSpotInstanceCountExceeded: Max spot instance count exceeded",
        FailureClass.QUOTA,
        "MaxSpotInstanceCountExceeded",
    ),
    (
        "AWS",
        "api error SpotMaxPriceTooLow: Your Spot request price of 0.1 is lower than the minimum "
        "required Spot request fulfillment price of 0.3156.",
        FailureClass.CAPACITY,
        "SpotMaxPriceTooLow",
    ),
    (
        "AWS",
        "api error InsufficientFreeAddressesInSubnet: The specified subnet does not have enough "
        "free addresses to satisfy the request.",
        FailureClass.CAPACITY,
        "InsufficientFreeAddressesInSubnet",
    ),
    (
        "AWS",
        "api error InvalidAMIID.NotFound: The image id '[ami-0123456789abcdef0]' does not exist",
        FailureClass.BAD_REQUEST,
        "InvalidAMIID.NotFound",
    ),
    (
        "AWS",
        "api error UnauthorizedOperation: You are not authorized to perform this operation. "
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
        "ec2:RunInstances on resource: arn:aws:ec2:us-east-1:123456789012:instance/*",
        FailureClass.AUTH,
        "UnauthorizedOperation",
    ),
    (
        "AZURE",
        'Code="SkuNotAvailable" Message="The requested VM size for resource \'Following SKUs '
        "have failed for Capacity Restrictions: Standard_NC4as_T4_v3' is currently not "
        "available in location 'eastus'. Please try another size or deploy to a different "
        'location or different zone. See https://aka.ms/azureskunotavailable for details."',
        FailureClass.CAPACITY,
        "SkuNotAvailable",
    ),
    (
        "AZURE",
        'Code="ZonalAllocationFailed" Message="Allocation failed. We do not have sufficient '
        "capacity for the requested VM size in this zone. Read more about improving likelihood "
        'of allocation success at http://aka.ms/allocation-guidance"',
        FailureClass.CAPACITY,
        "ZonalAllocationFailed",
    ),
    (
        "AZURE",
        'Code="AllocationFailed" Message="Allocation failed. If you are trying to add a new VM '
        "to a Virtual Machine Scale Set with a single placement group or update/resize an "
        "existing VM in a Virtual Machine Scale Set with a single placement group, please note "
        "that such allocation is scoped to a single cluster, and it is possible that the "
        "cluster is out of capacity. Please read more about improving likelihood of allocation "
        'success at http://aka.ms/allocation-guidance."',
        FailureClass.CAPACITY,
        "AllocationFailed",
    ),
    (
        "AZURE",
        'Code="OverconstrainedAllocationRequest" Message="Allocation failed. VM(s) with the '
        "following constraints cannot be allocated, because the condition is too restrictive. "
        "Please remove some constraints and try again. Constraints applied are: - Networking "
        'Constraints (such as Accelerated Networking or IPv6) - VM Size"',
        FailureClass.CAPACITY,
        "OverconstrainedAllocationRequest",
    ),
    (
        "AZURE",
        'Code="OperationNotAllowed" Message="Operation could not be completed as it results in '
        "exceeding approved standardNCASv3_T4Family Cores quota. Additional details - "
        "Deployment Model: Resource Manager, Location: eastus, Current Limit: 0, Current "
        'Usage: 0, Additional Required: 4, (Minimum) New Limit Required: 4."',
        FailureClass.QUOTA,
        "OperationNotAllowed",
    ),
    (
        "AZURE",
        'Code="QuotaExceeded" Message="Operation results in exceeding quota limits of Core. '
        "Maximum allowed: 10, Current in use: 8, Additional requested: 4. Please read more "
        'about quota increase at https://aka.ms/ProdportalCRP/?#create/Microsoft.Support."',
        FailureClass.QUOTA,
        "QuotaExceeded",
    ),
    (
        "AZURE",
        'Code="AuthorizationFailed" Message="The client \'0000-1111\' with object id '
        "'0000-1111' does not have authorization to perform action "
        "'Microsoft.Compute/virtualMachines/write' over scope '/subscriptions/0000/"
        "resourceGroups/provisioner-inst-1' or the scope is invalid. If access was recently "
        'granted, please refresh your credentials."',
        FailureClass.AUTH,
        "AuthorizationFailed",
    ),
]


@pytest.mark.parametrize(("provider", "message", "expected", "code"), RECORDED)
def test_recorded_messages_classify_as_the_table_says(provider, message, expected, code):
    assert classify(message, provider) == (expected, code)
    assert classify(message) == (expected, code)


def test_every_code_the_issue_names_is_in_the_table_with_a_source():
    codes = {(e.provider, e.code) for e in CLOUD_ERROR_CODES}
    required = {(p, c) for p, _, _, c in RECORDED}
    assert required <= codes
    assert all(e.source.startswith("https://") for e in CLOUD_ERROR_CODES)


def test_failover_policy_per_class():
    moves_on = {c for c in FailureClass if c.fails_over}
    assert moves_on == {FailureClass.CAPACITY, FailureClass.ZONE_UNSUPPORTED, FailureClass.QUOTA}
    assert not FailureClass.AUTH.fails_over and not FailureClass.BAD_REQUEST.fails_over


def test_a_code_inside_a_longer_code_does_not_match():
    zonal = RECORDED[9][1]
    assert classify(zonal) == (FailureClass.CAPACITY, "ZonalAllocationFailed")
    # OperationNotAllowed without quota in it is some other refusal.
    assert classify('Code="OperationNotAllowed" Message="The VM is being deleted"')[0] is (
        FailureClass.ERROR
    )


def test_quota_advice_names_the_quota():
    aws = advice(FailureClass.QUOTA, "AWS", "g5.xlarge", RECORDED[2][1], False)
    assert "request a quota increase" in aws and "Running On-Demand G and VT instances" in aws
    assert "All P Spot Instance Requests" in quota_name("AWS", "p4d.24xlarge", "", spot=True)
    azure = advice(FailureClass.QUOTA, "AZURE", "Standard_NC4as_T4_v3", RECORDED[12][1], False)
    assert "standardNCASv3_T4Family Cores quota" in azure
