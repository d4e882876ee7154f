"""No leak from a create cut short: the VM that a cancelled or crashed `up` was still creating.

When the watchdog cancels an up or its process dies, a create may be in flight: the cloud makes
the VM, but the stack's state holds only a *pending create* for it (no id). `refresh
--clear-pending-creates` then forgets it and the destroy that follows leaves it running, billing.

So before the refresh, the engine reads the state (`stack export`); for each pending create of a
VM it asks the cloud for the instances tagged `provisioner:instance-id=<instance id>` and, for
attempt N >= 2 (stack `<id>-aN`), `provisioner:attempt=N` (every VM the programs declare carries
these tags from its first API call), and writes each one the state does
not know into the state as that resource, with its id (`stack import`): the pending create
becomes a real resource, which the refresh reads and the destroy deletes. This is what the CLI's
`refresh --import-pending-creates URN ID` does; the Automation API in 3.272 has no flag for it.

Azure needs none of this: the resource group is created first and destroying it deletes
everything in it, a VM whose create was cut short included.
"""

from __future__ import annotations

import copy
from typing import Any

from stacks.spec import VM_RESOURCE_TYPES

AWS_VM = "aws:ec2/instance:Instance"


def pending_vm_creates(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """The pending-create operations of a VM in an exported deployment."""
    return [
        op
        for op in deployment.get("pending_operations") or []
        if op.get("type") == "creating"
        and (op.get("resource") or {}).get("type") in VM_RESOURCE_TYPES
    ]


def aws_region(deployment: dict[str, Any]) -> str | None:
    """The region of the stack's explicit AWS provider."""
    for resource in deployment.get("resources") or []:
        if resource.get("type") == "pulumi:providers:aws":
            region = (resource.get("inputs") or {}).get("region")
            if region:
                return str(region)
    return None


def known_ids(deployment: dict[str, Any], type_: str) -> set[str]:
    return {
        str(r["id"])
        for r in deployment.get("resources") or []
        if r.get("type") == type_ and r.get("id")
    }


def adopt(
    deployment: dict[str, Any], op: dict[str, Any], cloud_id: str, *, extra: bool = False
) -> dict[str, Any]:
    """The deployment with `op`'s pending create replaced by a resource of id `cloud_id`
    (`extra`: a second VM for the same create, kept under its own URN)."""
    result = copy.deepcopy(deployment)
    resource = copy.deepcopy(op["resource"])
    resource["id"] = cloud_id
    if extra:
        resource["urn"] = f"{resource['urn']}-leaked-{cloud_id}"
    resource.setdefault("outputs", {})
    resource["custom"] = True
    result["resources"] = [*(result.get("resources") or []), resource]
    result["pending_operations"] = [
        other
        for other in result.get("pending_operations") or []
        if (other.get("resource") or {}).get("urn") != resource.get("urn")
        or other.get("type") != "creating"
    ]
    return result
