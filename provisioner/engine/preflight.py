"""What the clouds will refuse, judged from their answers: PASS / FAIL / CANNOT CHECK, with the fix.

The answers come from `stacks.probes` (AWS, through Pulumi invokes) and the ARM REST API (Azure),
run by `engine/pulumi/preflight.py`; this module only judges them, so recorded answers test it.
Two sets: `doctor` runs every check; `up` runs the cheap subset (the family's quota, the
resource providers) before anything is created, and refuses on a FAIL with the same line.
"""

from __future__ import annotations

import re
from typing import Any

from provisioner.engine.base import DoctorCheck, Target

PASS, FAIL, CANNOT = "PASS", "FAIL", "CANNOT CHECK"

# AWS vCPU quotas (service "ec2"), per instance family letter: (on-demand, spot).
AWS_QUOTAS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "g": (
        ("L-DB2E81BA", "Running On-Demand G and VT instances"),
        ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ),
    "p": (
        ("L-417A185B", "Running On-Demand P instances"),
        ("L-7212CCBC", "All P Spot Instance Requests"),
    ),
}
QUOTA_CONSOLE = "https://console.aws.amazon.com/servicequotas/home/services/ec2/quotas"
# The instance-type patterns each family's quota counts (for its usage: limit - usage is free).
AWS_QUOTA_TYPES: dict[str, tuple[str, ...]] = {"g": ("g*", "vt*"), "p": ("p*",)}


def aws_usage_probes(
    target: Target, *, cheap: bool
) -> tuple[tuple[str, tuple[str, ...], bool], ...]:
    """(quota code, type patterns, spot) for the usage each quota read needs (stacks/probes.py)."""
    found = []
    for letter, (on_demand, spot) in AWS_QUOTAS.items():
        for (code, _), is_spot in ((on_demand, False), (spot, True)):
            if code in aws_quota_codes(target, cheap=cheap):
                found.append((code, AWS_QUOTA_TYPES[letter], is_spot))
    return tuple(found)


# Azure resource providers the program uses (DevTestLab: the auto-shutdown schedule).
AZURE_PROVIDERS = ("Microsoft.Compute", "Microsoft.Network", "Microsoft.DevTestLab")
# Azure regional vCPU quota families (the `usages` API's name.value), by size-name pattern.
AZURE_FAMILIES: tuple[tuple[str, str], ...] = (
    ("as_T4_v3", "standardNCASv3_T4Family"),
    ("ads_A100_v4", "StandardNCADSA100v4Family"),
    ("ads_A10_v5", "StandardNVADSA10v5Family"),
    ("isr_H100_v5", "standardNDSH100v5Family"),
    ("Standard_NC", "standardNCFamily"),
    ("Standard_NV", "standardNVFamily"),
)

# Error text meaning "could not ask", not "the answer is no".
OFFLINE_MARKERS = (
    "dial tcp",
    "no such host",
    "connection refused",
    "i/o timeout",
    "network is unreachable",
    "temporary failure in name resolution",
    "connecterror",
    "timed out",
    "send request failed",
)


def aws_quota_codes(target: Target, *, cheap: bool) -> tuple[str, ...]:
    """The quota codes to read: the type's family (on-demand or spot), else every GPU one."""
    if target.instance_type:
        family = AWS_QUOTAS.get(target.instance_type[:1].lower())
        if family is None:
            return ()
        return (family[1 if target.spot else 0][0],)
    if cheap:
        return ()
    return tuple(code for pair in AWS_QUOTAS.values() for code, _ in pair)


def azure_family(instance_type: str) -> str | None:
    for pattern, family in AZURE_FAMILIES:
        if pattern in instance_type:
            return family
    return None


def offline(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in OFFLINE_MARKERS)


def _line(name: str, state: str, detail: str, fix: str | None = None) -> DoctorCheck:
    return DoctorCheck(name, state != FAIL, detail, state=state, fix=fix)


_DENIED_ACTION = re.compile(r"not authorized to perform:?\s*([A-Za-z0-9-]+:[A-Za-z0-9*]+)")


def _error_line(name: str, error: str, fix: str) -> DoctorCheck:
    first = error.strip().splitlines()[0] if error.strip() else "no answer"
    if "accessdenied" in error.lower() or "not authorized to perform" in error.lower():
        # No permission to ask is not the cloud's "no" (#25): CANNOT CHECK, naming the action.
        found = _DENIED_ACTION.search(error)
        action = found.group(1) if found else "an action"
        return _line(
            name,
            CANNOT,
            f"access denied: the credentials lack {action} (grant it: docs/aws-iam-policy.json)",
        )
    if offline(error):
        return _line(name, CANNOT, f"could not reach the cloud ({first})", fix=None)
    return _line(name, FAIL, first, fix)


# -- AWS -------------------------------------------------------------------------------------


def aws_checks(target: Target, results: dict[str, Any], *, cheap: bool) -> list[DoctorCheck]:
    """Judge an AWS probe's `results` (see stacks/probes.py for their shape)."""
    region = target.region
    checks: list[DoctorCheck] = []
    if not cheap:
        checks.append(_aws_identity(results.get("identity")))
        checks.append(_aws_network(target, results))
    for code in aws_quota_codes(target, cheap=cheap):
        answer = results.get(f"quota:{code}")
        usage = results.get(f"usage:{code}")
        if isinstance(answer, dict) and "error" not in answer and isinstance(usage, dict):
            answer = {**answer, "usage": usage}
        checks.append(_aws_quota(target, code, answer, region))
    return checks


def _aws_identity(answer: Any) -> DoctorCheck:
    name = "aws identity"
    fix = (
        "give AWS credentials through the standard chain (aws configure / AWS_PROFILE / "
        "AWS_ACCESS_KEY_ID), with the actions in docs/aws-iam-policy.json"
    )
    if answer is None:
        return _line(name, CANNOT, "the probe did not run")
    if "error" in answer:
        return _error_line(name, answer["error"], fix)
    return _line(name, PASS, f"account {answer.get('accountId')} as {answer.get('arn')}")


def _aws_network(target: Target, results: dict[str, Any]) -> DoctorCheck:
    name = f"aws network {target.region}"
    if target.subnet_id:
        answer = results.get("subnet")
        fix = (
            f"set PROVISIONER_AWS_SUBNET_ID to a subnet of {target.region} "
            f"({target.region}=subnet-...)"
        )
        if answer is None:
            return _line(name, CANNOT, "the probe did not run")
        if isinstance(answer, dict):
            return _error_line(name, answer["error"], fix)
        if not answer:
            return _line(name, FAIL, f"subnet {target.subnet_id} not found in {target.region}", fix)
        return _line(name, PASS, f"configured subnet {target.subnet_id}")
    fix = (
        f"configure a subnet: PROVISIONER_AWS_SUBNET_ID={target.region}=subnet-... "
        f"(or `aws ec2 create-default-vpc --region {target.region}`)"
    )
    vpcs = results.get("defaultVpc")
    if vpcs is None:
        return _line(name, CANNOT, "the probe did not run")
    if isinstance(vpcs, dict):
        return _error_line(name, vpcs["error"], fix)
    if not vpcs:
        return _line(name, FAIL, f"{target.region} has no default VPC", fix)
    subnets = results.get("defaultSubnets")
    if isinstance(subnets, dict):
        return _error_line(name, subnets["error"], fix)
    if not subnets:
        return _line(name, FAIL, f"the default VPC {vpcs[0]} has no default subnets", fix)
    return _line(name, PASS, f"default VPC {vpcs[0]} with {len(subnets)} default subnet(s)")


def _aws_quota(target: Target, code: str, answer: Any, region: str) -> DoctorCheck:
    label = next(
        (text for pair in AWS_QUOTAS.values() for c, text in pair if c == code), "vCPU quota"
    )
    name = f"aws quota {code}"
    need = max(target.vcpus or 1, 1)
    fix = (
        f"request at least {need} vCPUs for '{label}' ({code}) in {region}: "
        f"aws service-quotas request-service-quota-increase --service-code ec2 "
        f"--quota-code {code} --desired-value {need} --region {region} (or {QUOTA_CONSOLE})"
    )
    if answer is None:
        return _line(name, CANNOT, "the probe did not run")
    if "error" in answer:
        return _error_line(name, answer["error"], fix)
    value = float(answer.get("value") or 0)
    what = f"'{label}' in {region} is {value:g} vCPUs"
    if value <= 0:
        return _line(name, FAIL, f"{what}: no such instance can start", fix)
    usage = answer.get("usage") or {}
    used = float(usage.get("vcpus") or 0) if "error" not in usage else 0.0
    free = value - used  # the headroom: what is running in the family already counts (#24)
    if usage and "error" not in usage:
        what += f", {used:g} in use ({int(usage.get('instances') or 0)} instances), {free:g} free"
    else:
        what += " (usage unknown: judged on the limit)"
    if target.vcpus and free < target.vcpus:
        return _line(name, FAIL, f"{what}, below {target.instance_type}'s {target.vcpus}", fix)
    return _line(name, PASS, what)


# -- Azure -----------------------------------------------------------------------------------


def azure_checks(
    target: Target,
    providers: dict[str, Any],
    usages: Any,
    *,
    cheap: bool,
) -> list[DoctorCheck]:
    """Judge ARM answers: `providers` maps namespace -> the provider JSON (or {"error": ...});
    `usages` is the compute `usages` JSON of the region (or {"error": ...}, or None)."""
    checks = [_azure_provider(ns, providers.get(ns)) for ns in AZURE_PROVIDERS]
    if target.instance_type or not cheap:
        checks.append(_azure_quota(target, usages))
    return checks


def _azure_provider(namespace: str, answer: Any) -> DoctorCheck:
    name = f"azure provider {namespace}"
    fix = f"az provider register --namespace {namespace} (once per subscription)"
    if answer is None:
        return _line(name, CANNOT, "not asked")
    if "error" in answer:
        return _error_line(name, str(answer["error"]), fix)
    state = answer.get("registrationState", "unknown")
    if state != "Registered":
        return _line(name, FAIL, f"{namespace} is {state} in this subscription", fix)
    return _line(name, PASS, f"{namespace} registered")


def _azure_quota(target: Target, usages: Any) -> DoctorCheck:
    name = f"azure quota {target.region}"
    family = azure_family(target.instance_type) if target.instance_type else None
    need = max(target.vcpus or 1, 1)
    fix = (
        f"request a vCPU quota increase for {family or 'the GPU family'} in {target.region} "
        f"to at least {need}: Azure portal > Quotas > Compute (or `az quota update`)"
    )
    if usages is None:
        return _line(name, CANNOT, "not asked")
    if isinstance(usages, dict) and "error" in usages:
        return _error_line(name, str(usages["error"]), fix)
    rows = {
        str(row.get("name", {}).get("value", "")).lower(): row
        for row in (usages.get("value") if isinstance(usages, dict) else None) or []
    }
    if family and target.spot:  # Azure Spot counts against one regional quota (#24)
        return _azure_spot_quota(target, rows, name, need)
    wanted = [family] if family else [f for _, f in AZURE_FAMILIES]
    problems, seen = [], []
    for fam in wanted:
        row = rows.get(fam.lower())
        if row is None:
            continue
        limit, used = int(row.get("limit") or 0), int(row.get("currentValue") or 0)
        seen.append(f"{fam} {used}/{limit}")
        free = limit - used
        if family and free < need:
            problems.append(
                f"{fam} has {free} of {limit} vCPUs free in {target.region}, "
                f"{target.instance_type} needs {need}"
            )
    total = rows.get("cores")
    if total is not None and family:
        free = int(total.get("limit") or 0) - int(total.get("currentValue") or 0)
        if free < need:
            problems.append(f"Total Regional vCPUs has {free} free, {need} needed")
    if family and not seen:
        return _line(name, FAIL, f"no {family} quota in {target.region} (limit 0)", fix)
    if not family and not any(not s.endswith("/0") for s in seen):
        return _line(name, FAIL, f"no GPU family has a vCPU quota in {target.region}", fix)
    if problems:
        return _line(name, FAIL, "; ".join(problems), fix)
    return _line(name, PASS, ", ".join(seen) or "quota found")


def _azure_spot_quota(target: Target, rows: dict[str, Any], name: str, need: int) -> DoctorCheck:
    """Spot VMs count against `lowPriorityCores` (Total Regional Low-priority vCPUs), not the
    family's quota: https://learn.microsoft.com/azure/virtual-machines/spot-vms#quota"""
    fix = (
        f"request a Spot (low-priority) vCPU quota increase in {target.region} to at least "
        f"{need}: Azure portal > Quotas > Compute > Total Regional Spot vCPUs"
    )
    row = rows.get("lowprioritycores")
    if row is None:
        return _line(name, FAIL, f"no Spot vCPU quota (lowPriorityCores) in {target.region}", fix)
    limit, used = int(row.get("limit") or 0), int(row.get("currentValue") or 0)
    what = f"lowPriorityCores {used}/{limit}, {limit - used} free"
    if limit - used < need:
        return _line(name, FAIL, f"{what}; {target.instance_type} needs {need}", fix)
    return _line(name, PASS, what)


def refusal(checks: list[DoctorCheck]) -> DoctorCheck | None:
    """The first FAIL among an up's checks: the line the up is refused with."""
    return next((c for c in checks if c.status == FAIL), None)


def as_line(check: DoctorCheck) -> str:
    """`FAIL aws quota L-DB2E81BA: ... Fix: ...`: the one line doctor and up both print."""
    fix = f" Fix: {check.fix}" if check.fix and check.status == FAIL else ""
    return f"{check.status} {check.name}: {check.detail}.{fix}"
