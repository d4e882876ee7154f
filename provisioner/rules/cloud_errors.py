"""What a cloud's refusal means, and whether trying elsewhere or again can help.

One table maps each provider's error codes to a failure class. The classes decide the failover
policy: capacity, zone-unsupported and quota refusals move to the next candidate (another zone,
region, type or cloud); transient ones retry the same call; the rest end the request. Each entry
names where its wording comes from, so the table can be checked against the providers' docs.
Pure: no I/O.
"""

from __future__ import annotations

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


CLOUD_ERROR_CODES: tuple[CloudErrorCode, ...] = (
    CloudErrorCode(
        "AWS", "InsufficientInstanceCapacity", FailureClass.CAPACITY, "shared/PULUMI-NOTES.md"
    ),
    CloudErrorCode("AZURE", "SkuNotAvailable", FailureClass.CAPACITY, "shared/PULUMI-NOTES.md"),
    CloudErrorCode(
        "AZURE", "ZonalAllocationFailed", FailureClass.CAPACITY, "shared/PULUMI-NOTES.md"
    ),
    CloudErrorCode("AZURE", "AllocationFailed", FailureClass.CAPACITY, "shared/PULUMI-NOTES.md"),
    CloudErrorCode("AWS", "VcpuLimitExceeded", FailureClass.QUOTA, "shared/PULUMI-NOTES.md"),
    CloudErrorCode("AWS", "InstanceLimitExceeded", FailureClass.QUOTA, "shared/PULUMI-NOTES.md"),
    CloudErrorCode(
        "AWS", "MaxSpotInstanceCountExceeded", FailureClass.QUOTA, "shared/PULUMI-NOTES.md"
    ),
    CloudErrorCode(
        "AZURE",
        "OperationNotAllowed",
        FailureClass.QUOTA,
        "shared/PULUMI-NOTES.md",
        also_contains="quota",
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
)


def classify(message: str, provider: str | None = None) -> tuple[FailureClass, str | None]:
    """(failure class, the provider's code) for an engine's error text.

    Codes are tried in table order; with `provider`, only that provider's codes are.
    """
    lowered = message.lower()
    for entry in CLOUD_ERROR_CODES:
        if provider is not None and entry.provider != provider:
            continue
        if entry.code in message and (
            entry.also_contains is None or entry.also_contains in lowered
        ):
            return entry.failure_class, entry.code
    for marker in TRANSIENT_MARKERS:
        if marker in message:
            return FailureClass.TRANSIENT, None
    return FailureClass.ERROR, None
