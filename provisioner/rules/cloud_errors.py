"""What a cloud's refusal means, and whether trying elsewhere or again can help.

One table maps each provider's error codes to a failure class. The classes decide the failover
policy: capacity, zone-unsupported and quota refusals move to the next candidate (another zone,
region, type or cloud); transient ones retry the same call; the rest end the request. Each entry
names where its wording comes from, so the table can be checked against the providers' docs.
Pure: no I/O.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum


class FailureClass(StrEnum):
    CAPACITY = "capacity"  # no such VMs free there now
    ZONE_UNSUPPORTED = "zone-unsupported"  # the type is not offered in that zone/region
    QUOTA = "quota"  # the account's limit: request a quota increase
    RETIRED = "retired"  # the size no longer exists
    AUTH = "auth"  # credentials or permissions
    BAD_REQUEST = "bad-request"  # the request itself is wrong (image, parameters)
    TRANSIENT = "transient"  # throttling, 5xx, lock conflicts: the same call may pass
    TIMEOUT = "timeout"  # our watchdog stopped it
    ERROR = "error"  # anything not classified

    @property
    def fails_over(self) -> bool:
        """Whether the next candidate (elsewhere) may succeed where this one failed."""
        return self in (FailureClass.CAPACITY, FailureClass.ZONE_UNSUPPORTED, FailureClass.QUOTA)

    @property
    def retryable(self) -> bool:
        """Whether the same call, repeated, may succeed."""
        return self is FailureClass.TRANSIENT


@dataclass(frozen=True)
class CloudErrorCode:
    provider: str  # "AWS" | "AZURE" | "GCP"
    code: str  # as the provider spells it, matched as a substring of the error text
    failure_class: FailureClass
    source: str  # where the wording was checked
    # Extra text that must also appear (case-insensitive), e.g. "quota" for Azure's
    # OperationNotAllowed, which is also used for other refusals.
    also_contains: str | None = None
    # Other wordings of the same refusal (case-insensitive), for clients that print the message
    # without the code (terraform-provider-google, behind pulumi-gcp, prints only the message of
    # a failed Compute Engine operation).
    wordings: tuple[str, ...] = ()

    def matches(self, message: str, lowered: str) -> bool:
        found = bool(_word(self.code).search(message)) or any(w in lowered for w in self.wordings)
        return found and (self.also_contains is None or self.also_contains in lowered)


_GCP_AVAILABILITY = (
    "https://cloud.google.com/compute/docs/troubleshooting/troubleshooting-resource-availability"
)
_GCP_QUOTAS = "https://cloud.google.com/compute/resource-usage"

_AWS_ERRORS = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html"
_AWS_LAUNCH = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html"
_AWS_SPOT = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-request-status.html"
_AZ_ALLOC = (
    "https://learn.microsoft.com/en-us/troubleshoot/azure/virtual-machines/windows/"
    "allocation-failure"
)
_AZ_SKU = (
    "https://learn.microsoft.com/en-us/azure/azure-resource-manager/troubleshooting/"
    "error-sku-not-available"
)
_AZ_QUOTA = (
    "https://learn.microsoft.com/en-us/azure/azure-resource-manager/troubleshooting/"
    "error-resource-quota"
)
_AZ_AUTH = "https://learn.microsoft.com/en-us/azure/role-based-access-control/troubleshooting"

# Codes are matched as whole words (AllocationFailed does not match ZonalAllocationFailed), in
# table order. The providers' own wording of each is recorded in tests/unit/test_cloud_errors.py.
CLOUD_ERROR_CODES: tuple[CloudErrorCode, ...] = (
    CloudErrorCode("AWS", "InsufficientInstanceCapacity", FailureClass.CAPACITY, _AWS_ERRORS),
    # "Your requested instance type (g5.xlarge) is not supported in your requested
    # Availability Zone (us-east-1e)": another zone may offer it.
    CloudErrorCode(
        "AWS",
        "Unsupported",
        FailureClass.ZONE_UNSUPPORTED,
        _AWS_LAUNCH,
        also_contains="not supported",
    ),
    # The subnet (so the zone) is full; another zone's subnet may not be.
    CloudErrorCode("AWS", "InsufficientFreeAddressesInSubnet", FailureClass.CAPACITY, _AWS_ERRORS),
    # The spot price there is above the max price asked: elsewhere it may be below.
    CloudErrorCode("AWS", "SpotMaxPriceTooLow", FailureClass.CAPACITY, _AWS_SPOT),
    CloudErrorCode("AWS", "VcpuLimitExceeded", FailureClass.QUOTA, _AWS_ERRORS),
    CloudErrorCode("AWS", "InstanceLimitExceeded", FailureClass.QUOTA, _AWS_ERRORS),
    CloudErrorCode("AWS", "MaxSpotInstanceCountExceeded", FailureClass.QUOTA, _AWS_ERRORS),
    CloudErrorCode("AWS", "InvalidAMIID.NotFound", FailureClass.BAD_REQUEST, _AWS_ERRORS),
    CloudErrorCode("AWS", "InvalidAMIID.Malformed", FailureClass.BAD_REQUEST, _AWS_ERRORS),
    CloudErrorCode("AWS", "UnauthorizedOperation", FailureClass.AUTH, _AWS_ERRORS),
    CloudErrorCode("AWS", "AuthFailure", FailureClass.AUTH, _AWS_ERRORS),
    CloudErrorCode("AZURE", "SkuNotAvailable", FailureClass.CAPACITY, _AZ_SKU),
    CloudErrorCode("AZURE", "ZonalAllocationFailed", FailureClass.CAPACITY, _AZ_ALLOC),
    CloudErrorCode("AZURE", "AllocationFailed", FailureClass.CAPACITY, _AZ_ALLOC),
    CloudErrorCode("AZURE", "OverconstrainedAllocationRequest", FailureClass.CAPACITY, _AZ_ALLOC),
    CloudErrorCode(
        "AZURE",
        "OperationNotAllowed",
        FailureClass.QUOTA,
        _AZ_QUOTA,
        also_contains="quota",
    ),
    CloudErrorCode("AZURE", "QuotaExceeded", FailureClass.QUOTA, _AZ_QUOTA),
    CloudErrorCode("AZURE", "AuthorizationFailed", FailureClass.AUTH, _AZ_AUTH),
    CloudErrorCode("AZURE", "InvalidAuthenticationToken", FailureClass.AUTH, _AZ_AUTH),
    # GCP: Compute Engine's operation error codes and the messages that carry them.
    CloudErrorCode(
        "GCP",
        "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
        FailureClass.CAPACITY,
        _GCP_AVAILABILITY,
    ),
    CloudErrorCode(
        "GCP",
        "ZONE_RESOURCE_POOL_EXHAUSTED",
        FailureClass.CAPACITY,
        _GCP_AVAILABILITY,
        wordings=("does not have enough resources available to fulfill the request",),
    ),
    CloudErrorCode(
        "GCP",
        "GPUS_ALL_REGIONS",
        FailureClass.QUOTA,
        _GCP_QUOTAS,
        also_contains="exceeded",
    ),
    CloudErrorCode(
        "GCP",
        "QUOTA_EXCEEDED",
        FailureClass.QUOTA,
        _GCP_QUOTAS,
        # "Quota 'NVIDIA_L4_GPUS' exceeded.  Limit: 0.0 in region us-central1."
        wordings=("' exceeded.  limit:", "' exceeded. limit:"),
    ),
    CloudErrorCode(
        "GCP",
        "does not exist in zone",
        FailureClass.ZONE_UNSUPPORTED,
        _GCP_AVAILABILITY,
        # "Machine type with name 'g2-standard-4' does not exist in zone 'europe-west1-d'."
    ),
    CloudErrorCode(
        "GCP",
        "SERVICE_DISABLED",
        FailureClass.AUTH,
        "https://cloud.google.com/apis/docs/troubleshooting",
        wordings=("compute engine api has not been used in project",),
    ),
)

# Codes that mean "retired", not "no capacity now", when the size asked for is retired (#13):
# Azure answers a retired size with SkuNotAvailable, the same code as a capacity shortage.
RETIRED_WHEN_SIZE_RETIRED = frozenset({("AZURE", "SkuNotAvailable")})


def class_for_size(
    failure_class: str, provider: str, code: str | None, *, size_retired: bool
) -> str:
    """`failure_class`, or "retired" where the code means it for a retired size."""
    if size_retired and (provider, code) in RETIRED_WHEN_SIZE_RETIRED:
        return FailureClass.RETIRED.value
    return failure_class


TRANSIENT_MARKERS = (
    "RequestLimitExceeded",
    "Throttling",
    "TooManyRequests",
    "InternalError",
    "ServiceUnavailable",
    "the stack is currently locked by",
    "409 Conflict",
    "rateLimitExceeded",  # GCP
    "RATE_LIMIT_EXCEEDED",
    "backendError",
)


def classify(message: str, provider: str | None = None) -> tuple[FailureClass, str | None]:
    """(failure class, the provider's code) for an engine's error text.

    Codes are tried in table order; with `provider`, only that provider's codes are.
    """
    lowered = message.lower()
    for entry in CLOUD_ERROR_CODES:
        if provider is not None and entry.provider != provider:
            continue
        if entry.matches(message, lowered):
            return entry.failure_class, entry.code
    for marker in TRANSIENT_MARKERS:
        if marker in message:
            return FailureClass.TRANSIENT, None
    return FailureClass.ERROR, None


@functools.cache
def _word(code: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.]){re.escape(code)}(?![\w])")


# AWS names its GPU quotas by instance family (Service Quotas, service code "ec2").
_AWS_QUOTAS = {
    ("g", False): "Running On-Demand G and VT instances (L-DB2E81BA)",
    ("p", False): "Running On-Demand P instances (L-417A185B)",
    ("g", True): "All G and VT Spot Instance Requests (L-3819A6DF)",
    ("p", True): "All P Spot Instance Requests (L-7212CCBC)",
}
_AZURE_QUOTA = re.compile(r"exceeding approved (.+?) quota", re.IGNORECASE)


def quota_name(provider: str, instance_type: str, message: str, *, spot: bool = False) -> str:
    """The quota a refusal hit, as the provider's quota console names it."""
    if provider == "AZURE":
        found = _AZURE_QUOTA.search(message)
        if found:
            return f"{found.group(1).strip()} quota"
        return "Total Regional vCPUs quota" if not spot else "Total Regional Spot vCPUs quota"
    if provider == "AWS":
        family = instance_type[:1].lower()
        named = _AWS_QUOTAS.get((family, spot))
        if named:
            return named
        return "All Standard Spot Instance Requests" if spot else "Running On-Demand instances"
    return f"{provider} quota for {instance_type}"


def advice(
    failure_class: FailureClass, provider: str, instance_type: str, message: str, spot: bool
) -> str:
    """One sentence telling the user what would help, for an error message."""
    if failure_class is FailureClass.QUOTA:
        return (
            f"request a quota increase: {quota_name(provider, instance_type, message, spot=spot)}"
        )
    if failure_class in (FailureClass.CAPACITY, FailureClass.ZONE_UNSUPPORTED):
        return "try other zones, regions or types (--regions, --instance-type a,b, --gpu)"
    if failure_class is FailureClass.AUTH:
        return "check the cloud credentials and their permissions (`provisioner doctor`)"
    return ""
