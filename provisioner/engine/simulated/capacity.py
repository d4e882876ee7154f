"""PROVISIONER_SIM_CAPACITY: where the simulated clouds have no capacity, or no quota.

Rules are comma-separated `PROVIDER/REGION/ZONE/TYPE[/spot]=none|quota|unsupported`, `*`
matching anything, case-insensitive, first match wins:

- `none`: the VM's creation fails as the provider words a capacity refusal
  (AWS InsufficientInstanceCapacity; Azure ZonalAllocationFailed in a zone, else SkuNotAvailable);
- `quota`: it fails as a quota refusal (AWS VcpuLimitExceeded / MaxSpotInstanceCountExceeded;
  Azure OperationNotAllowed "... Cores quota");
- `unsupported`: the zone does not offer the type (AWS's DescribeInstanceTypeOfferings leaves it
  out, so the program picks another zone or fails with AWS's `Unsupported` wording).

A rule without `/spot` matches on-demand and spot requests; with it, spot requests only.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

OUTCOMES = ("none", "quota", "unsupported")


@dataclass(frozen=True)
class CapacityRule:
    provider: str
    region: str
    zone: str
    instance_type: str
    spot_only: bool
    outcome: str

    def matches(self, provider: str, region: str, zone: str | None, itype: str, spot: bool) -> bool:
        if self.spot_only and not spot:
            return False
        pairs = (
            (self.provider, provider),
            (self.region, region),
            (self.zone, zone or ""),
            (self.instance_type, itype),
        )
        return all(fnmatchcase(value.lower(), pattern.lower()) for pattern, value in pairs)


def parse_rules(text: str) -> list[CapacityRule]:
    """The rules of PROVISIONER_SIM_CAPACITY; ValueError names the bad one."""
    rules = []
    for raw in (part.strip() for part in (text or "").split(",")):
        if not raw:
            continue
        where, sep, outcome = raw.partition("=")
        parts = where.strip().split("/")
        spot_only = len(parts) == 5 and parts[4].lower() == "spot"
        if (
            not sep
            or outcome.strip().lower() not in OUTCOMES
            or len(parts) not in (4, 5)
            or (len(parts) == 5 and not spot_only)
        ):
            raise ValueError(
                f"PROVISIONER_SIM_CAPACITY rule {raw!r} must be "
                "PROVIDER/REGION/ZONE/TYPE[/spot]=none|quota|unsupported"
            )
        provider, region, zone, itype = parts[:4]
        rules.append(
            CapacityRule(provider, region, zone, itype, spot_only, outcome.strip().lower())
        )
    return rules


def outcome_for(
    rules: list[CapacityRule],
    provider: str,
    region: str,
    zone: str | None,
    itype: str,
    spot: bool,
    *,
    kinds: tuple[str, ...] = ("none", "quota"),
) -> str | None:
    for rule in rules:
        if rule.outcome in kinds and rule.matches(provider, region, zone, itype, spot):
            return rule.outcome
    return None
