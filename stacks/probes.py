"""Read-only probe programs: what a cloud will refuse, asked before anything is created.

A probe declares no resource except its explicit provider; it calls invokes (data sources) and
writes what each returned, or the error it raised, into `results`. The engine runs it as a
preview-only inline program (nothing is created, no state is written) and judges the answers
in `provisioner.engine.preflight`. One invoke failing (no permission, no network) fails only
its own entry, so every check reports on its own.

AWS only: azure-native 3.29 has no invoke for resource-provider registration or compute usages,
so the Azure checks read the ARM REST API instead (provisioner/engine/pulumi/preflight.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws
import pulumi_aws.ec2 as ec2
import pulumi_aws.servicequotas as servicequotas

_LOADED = (ec2.get_vpcs, servicequotas.get_service_quota)  # lazy submodules: see stacks/aws.py


@dataclass(frozen=True)
class AwsProbe:
    """What to ask AWS in one region; `instance_id` asks for instances carrying that tag."""

    region: str
    quota_codes: tuple[str, ...] = ()
    subnet_id: str | None = None
    network: bool = True
    identity: bool = True
    instance_id: str | None = None
    tag_key: str = "provisioner:instance-id"
    # (quota code, instance-type patterns it counts, spot): count the vCPUs running under each
    # quota, so preflight judges the headroom (limit - usage), not the limit (#24).
    usage: tuple[tuple[str, tuple[str, ...], bool], ...] = ()
    # From the second attempt on, the instances also carry provisioner:attempt=<attempt>.
    attempt: int = 1
    results: dict[str, Any] = field(default_factory=dict)


def _ask(results: dict[str, Any], key: str, call: Callable[[], Any]) -> Any:
    try:
        value = call()
    except Exception as exc:  # the check reports it; the other checks go on
        results[key] = {"error": str(exc)}
        return None
    results[key] = value
    return value


def aws_program(probe: AwsProbe) -> Callable[[], None]:
    def program() -> None:
        provider = pulumi_aws.Provider("aws", region=probe.region)
        opts = pulumi.InvokeOptions(provider=provider)
        out = probe.results
        if probe.identity:
            _ask(
                out,
                "identity",
                lambda: _caller(pulumi_aws.get_caller_identity(opts=opts)),
            )
        if probe.network and probe.subnet_id:
            subnet: str = probe.subnet_id
            _ask(
                out,
                "subnet",
                lambda: list(
                    ec2.get_subnets(
                        filters=[ec2.GetSubnetsFilterArgs(name="subnet-id", values=[subnet])],
                        opts=opts,
                    ).ids
                ),
            )
        elif probe.network:
            vpcs = _ask(
                out,
                "defaultVpc",
                lambda: list(
                    ec2.get_vpcs(
                        filters=[ec2.GetVpcsFilterArgs(name="is-default", values=["true"])],
                        opts=opts,
                    ).ids
                ),
            )
            if vpcs:
                _ask(
                    out,
                    "defaultSubnets",
                    lambda: list(
                        ec2.get_subnets(
                            filters=[
                                ec2.GetSubnetsFilterArgs(name="vpc-id", values=[vpcs[0]]),
                                ec2.GetSubnetsFilterArgs(name="default-for-az", values=["true"]),
                            ],
                            opts=opts,
                        ).ids
                    ),
                )
        for code in probe.quota_codes:
            _ask(out, f"quota:{code}", functools.partial(_quota, code, opts))
        for code, patterns, spot in probe.usage:
            _ask(out, f"usage:{code}", functools.partial(_usage, patterns, spot, opts))
        if probe.instance_id:
            tags = {probe.tag_key: probe.instance_id}
            if probe.attempt >= 2:
                tags["provisioner:attempt"] = str(probe.attempt)
            _ask(
                out,
                "taggedInstances",
                lambda: list(
                    ec2.get_instances(
                        instance_tags=tags,
                        instance_state_names=["pending", "running", "stopping", "stopped"],
                        opts=opts,
                    ).ids
                ),
            )

    return program


def _caller(result: Any) -> dict[str, Any]:
    return {"accountId": result.account_id, "arn": result.arn}


def _usage(patterns: tuple[str, ...], spot: bool, opts: pulumi.InvokeOptions) -> dict[str, Any]:
    """vCPUs of the pending/running instances a quota counts: those of its families, spot ones
    for a spot quota, the others for an on-demand one."""

    def ids(spot_only: bool) -> set[str]:
        filters = [ec2.GetInstancesFilterArgs(name="instance-type", values=list(patterns))]
        if spot_only:
            filters.append(ec2.GetInstancesFilterArgs(name="instance-lifecycle", values=["spot"]))
        found = ec2.get_instances(
            filters=filters, instance_state_names=["pending", "running"], opts=opts
        )
        return set(found.ids)

    counted = ids(True) if spot else ids(False) - ids(True)
    vcpus: dict[str, int] = {}
    total = 0
    for instance_id in sorted(counted):
        kind = ec2.get_instance(instance_id=instance_id, opts=opts).instance_type
        if kind not in vcpus:
            vcpus[kind] = ec2.get_instance_type(instance_type=kind, opts=opts).default_vcpus
        total += vcpus[kind]
    return {"vcpus": total, "instances": len(counted)}


def _quota(code: str, opts: pulumi.InvokeOptions) -> dict[str, Any]:
    result = servicequotas.get_service_quota(service_code="ec2", quota_code=code, opts=opts)
    return {"value": result.value, "name": result.quota_name}
