"""Azure: what a cut-short VM create leaves, deleted in an order Azure accepts (#25).

When an `up` is cut short while Azure is still creating the VM, the stack's state holds only a
pending create for it; `refresh --clear-pending-creates` forgets it, and the destroy that follows
deletes the NIC before the resource group. Azure refuses (`NicInUse`: the orphan VM holds the
NIC) on every retry, the DevTest Labs schedule never existed (it needed `vm.id`), and the VM
stays, billing.

So when a destroy of an Azure stack fails with `NicInUse`, the engine lists what is in the
stack's resource group through the ARM REST API and deletes it itself, in dependency order: the
VMs first (their OS disk and NIC carry `deleteOption: Delete`), then NICs, then public IPs and
disks, then virtual networks, then NSGs, then anything else. A `NicInUse` (or another "in use")
answer is retried after a pause: Azure keeps a NIC reserved for a short while after its VM is
gone. The resource group itself is left to the Pulumi destroy that runs next (after a refresh
that drops what is gone from the state), so the stack ends empty as usual.

The same ARM client reads a VM's power state (`instanceView`) for the reaper: an OS halt (the
idle guard's `shutdown -h now`) leaves an Azure VM "stopped" but allocated, billing compute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from provisioner.engine.pulumi.preflight import ARM_URL, azure_subscription, default_token

RESOURCES_API = "2021-04-01"
# api-version per resource type for a DELETE (ARM wants the provider's own versions).
API_VERSIONS = {
    "microsoft.compute/virtualmachines": "2024-07-01",
    "microsoft.compute/disks": "2024-03-02",
    "microsoft.network/networkinterfaces": "2024-05-01",
    "microsoft.network/publicipaddresses": "2024-05-01",
    "microsoft.network/virtualnetworks": "2024-05-01",
    "microsoft.network/networksecuritygroups": "2024-05-01",
    "microsoft.devtestlab/schedules": "2018-09-15",
}
# Lower goes first: nothing may be deleted while something still uses it.
DELETE_ORDER = {
    "microsoft.compute/virtualmachines": 0,
    "microsoft.network/networkinterfaces": 1,
    "microsoft.network/publicipaddresses": 2,
    "microsoft.compute/disks": 2,
    "microsoft.network/virtualnetworks": 3,
    "microsoft.network/networksecuritygroups": 4,
}
LAST = 5
# Answers that mean "still used by something being deleted": wait and try again.
IN_USE = (
    "NicInUse",
    "NicReservedForAnotherVm",
    "PublicIPAddressInUse",
    "InUseSubnetCannotBeDeleted",
    "InUseNetworkSecurityGroupCannotBeDeleted",
)
RETRIES = 20  # x RETRY_SECONDS: longer than Azure's 180 s NIC reservation
RETRY_SECONDS = 15.0
POLLS = 120  # of a long-running delete, Retry-After (default 5 s) apart


class AzureCleanupError(Exception):
    """A delete Azure refused for a reason other than "in use", or one that never finished."""


@dataclass
class ArmClient:
    """The ARM REST API with a bearer token (engine.azure_arm in tests: a local server)."""

    token: Callable[[], str] = default_token
    base_url: str = ARM_URL
    subscription: str | None = None
    sleep: Callable[[float], None] = time.sleep
    transport: httpx.BaseTransport | None = None

    def _client(self) -> httpx.Client:
        return httpx.Client(
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
            transport=self.transport,
        )

    def _subscription(self) -> str:
        subscription = self.subscription or azure_subscription()
        if not subscription:
            raise AzureCleanupError("no subscription: set ARM_SUBSCRIPTION_ID")
        return subscription

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}"

    def group_resources(self, client: httpx.Client, group: str) -> list[dict[str, Any]]:
        path = f"/subscriptions/{self._subscription()}/resourceGroups/{group}/resources"
        response = client.get(self.url(path), params={"api-version": RESOURCES_API})
        if response.status_code == 404:
            return []
        _raise_for(response, f"list {group}")
        return list(response.json().get("value") or [])

    def clean_group(self, group: str) -> list[str]:
        """Delete everything in `group` (not the group) in dependency order; the ids deleted."""
        with self._client() as client:
            resources = self.group_resources(client, group)
            ordered = sorted(
                (r for r in resources if str(r.get("type", "")).count("/") == 1),
                key=lambda r: (DELETE_ORDER.get(str(r["type"]).lower(), LAST), str(r["id"])),
            )
            for resource in ordered:
                self._delete(client, str(resource["id"]), str(resource["type"]).lower())
        return [str(r["id"]) for r in ordered]

    def _delete(self, client: httpx.Client, resource_id: str, type_: str) -> None:
        version = API_VERSIONS.get(type_, RESOURCES_API)
        for _ in range(RETRIES):
            response = client.delete(self.url(resource_id), params={"api-version": version})
            if response.status_code in (200, 202, 204, 404):
                if response.status_code == 202:
                    self._wait(client, response, resource_id)
                return
            code = _error_code(response)
            if code not in IN_USE:
                _raise_for(response, f"delete {resource_id}")
            self.sleep(RETRY_SECONDS)
        raise AzureCleanupError(f"delete {resource_id}: still in use after {RETRIES} tries")

    def _wait(self, client: httpx.Client, accepted: httpx.Response, resource_id: str) -> None:
        """Poll a long-running delete until it ends (Azure-AsyncOperation, else Location)."""
        operation = accepted.headers.get("Azure-AsyncOperation")
        location = accepted.headers.get("Location")
        for _ in range(POLLS):
            self.sleep(float(accepted.headers.get("Retry-After") or 5))
            if operation:
                answer = client.get(operation)
                status = str((answer.json() or {}).get("status", ""))
                if status == "Succeeded":
                    return
                if status in ("Failed", "Canceled"):
                    raise AzureCleanupError(f"delete {resource_id}: {status}")
            elif location:
                answer = client.get(location)
                if answer.status_code in (200, 204):
                    return
                if answer.status_code != 202:
                    _raise_for(answer, f"delete {resource_id}")
            else:
                return
        raise AzureCleanupError(f"delete {resource_id}: not finished after {POLLS} polls")

    def power_state(self, vm_id: str) -> str | None:
        """`PowerState/running`, `PowerState/stopped`, `PowerState/deallocated`... or None."""
        with self._client() as client:
            response = client.get(
                self.url(f"{vm_id}/instanceView"),
                params={"api-version": API_VERSIONS["microsoft.compute/virtualmachines"]},
            )
            _raise_for(response, f"instance view of {vm_id}")
            for status in response.json().get("statuses") or []:
                code = str(status.get("code", ""))
                if code.startswith("PowerState/"):
                    return code
        return None


def _error_code(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return ""
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.status_code < 400:
        return
    code = _error_code(response) or f"HTTP {response.status_code}"
    raise AzureCleanupError(f"{what}: {code}")


def resource_group_of(deployment: dict[str, Any]) -> str | None:
    """The name of the stack's resource group, from its exported state."""
    for resource in deployment.get("resources") or []:
        if resource.get("type") == "azure-native:resources:ResourceGroup":
            outputs = resource.get("outputs") or {}
            inputs = resource.get("inputs") or {}
            name = outputs.get("name") or inputs.get("resourceGroupName")
            if name:
                return str(name)
    return None


def nic_in_use(text: str) -> bool:
    return any(code in text for code in ("NicInUse", "NicReservedForAnotherVm"))
