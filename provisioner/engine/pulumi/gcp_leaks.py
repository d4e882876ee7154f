"""GCP: the VM of a cut-short create, found by its deterministic name (#25).

A GCP instance's name is `provisioner-<instance id>[-aN]` (stacks/gcp.py: the stack's name), its
zone is in the pending create's inputs (the program chose it before the create), and its project
is the instance's or the stack's provider's. So the engine asks Compute Engine for exactly that
instance (`instances.get`, one read), and when it exists writes it into the state with the id
pulumi-gcp gives instances, `projects/<p>/zones/<z>/instances/<name>` (leaks.adopt). The refresh
then reads it and the destroy deletes it before the subnetwork, which it would otherwise hold
("resource is in use") until Compute Engine's own `termination_time`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from provisioner.engine.pulumi.gcp_auth import access_token
from provisioner.engine.pulumi.gcp_doctor import COMPUTE_API

GCP_VM = "gcp:compute/instance:Instance"


@dataclass(frozen=True)
class InstanceRef:
    project: str
    zone: str
    name: str

    @property
    def pulumi_id(self) -> str:
        return f"projects/{self.project}/zones/{self.zone}/instances/{self.name}"


def instance_ref(deployment: dict[str, Any], op: dict[str, Any]) -> InstanceRef | None:
    """Where the pending create's instance would be, from its inputs and the provider's."""
    inputs = (op.get("resource") or {}).get("inputs") or {}
    project = inputs.get("project")
    if not project:
        for resource in deployment.get("resources") or []:
            if resource.get("type") == "pulumi:providers:gcp":
                project = (resource.get("inputs") or {}).get("project")
    name, zone = inputs.get("name"), inputs.get("zone")
    if not (project and name and zone):
        return None
    return InstanceRef(str(project), str(zone).rsplit("/", 1)[-1], str(name))


def instance_exists(
    ref: InstanceRef,
    *,
    token: Callable[[], str] = access_token,
    base_url: str = COMPUTE_API,
    transport: httpx.BaseTransport | None = None,
) -> bool:
    """Whether Compute Engine has that instance (any status: a stopped one still bills its
    disk). Raises when it cannot tell, so the pending create is not forgotten."""
    url = f"{base_url.rstrip('/')}/projects/{ref.project}/zones/{ref.zone}/instances/{ref.name}"
    with httpx.Client(timeout=20, transport=transport) as client:
        response = client.get(url, headers={"Authorization": f"Bearer {token()}"})
    if response.status_code == 404:
        return False
    if response.status_code != 200:
        try:
            reason = response.json().get("error", {}).get("status") or response.reason_phrase
        except ValueError:
            reason = response.reason_phrase
        raise RuntimeError(f"Compute Engine answered {response.status_code} {reason}")
    return str(response.json().get("name")) == ref.name
