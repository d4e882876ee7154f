"""#25: the GCP permissions a first real `up` needs, written down like AWS's and Azure's
(docs/gcp-role.json and docs/gcp-instances-role.json, `gcloud iam roles create --file`) and kept
exact. The GCP program runs under Pulumi's mocks in each shape it takes (on-demand, spot, N1 with
guest GPUs, SSH CIDRs, first and later instance of a project); every resource type and invoke
must be in the table below, and the two roles together must hold exactly the table's
permissions. Instance mutations (setMetadata above all: it rewrites a VM's startup script) live
only in the second role, which is bound with a condition on our instances' names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs

from provisioner.engine.simulated.fakecloud import FakeCloud
from provisioner.engine.simulated.mockrun import run_program
from stacks import program_for
from stacks.spec import InstanceSpec

DOCS = Path(__file__).resolve().parents[2] / "docs"

# What each resource type needs for create, read (refresh) and delete, from the Compute Engine
# permission reference (instances.insert: setMetadata/setTags/setLabels when given, disks.create
# and images.useReadOnly for the boot disk, subnetworks.use/useExternalIp for the interface).
GCP_RESOURCES: dict[str, set[str]] = {
    "gcp:compute/instance:Instance": {
        "compute.instances.create",
        "compute.instances.get",
        "compute.instances.delete",
        "compute.instances.setMetadata",
        "compute.instances.setLabels",
        "compute.instances.setTags",
        "compute.disks.create",
        "compute.disks.setLabels",
        "compute.images.useReadOnly",
        "compute.subnetworks.use",
        "compute.subnetworks.useExternalIp",
        "compute.zoneOperations.get",
    },
    # The shared network (stacks/gcp.py): created once, retained; delete for stacks made before
    # #25, which own a network of their own.
    "gcp:compute/network:Network": {
        "compute.networks.create",
        "compute.networks.get",
        "compute.networks.delete",
        "compute.globalOperations.get",
    },
    "gcp:compute/subnetwork:Subnetwork": {
        "compute.subnetworks.create",
        "compute.subnetworks.get",
        "compute.subnetworks.delete",
        "compute.regionOperations.get",
    },
    "gcp:compute/firewall:Firewall": {
        "compute.firewalls.create",
        "compute.firewalls.get",
        "compute.firewalls.delete",
        "compute.networks.updatePolicy",
        "compute.globalOperations.get",
    },
}
GCP_INVOKES: dict[str, set[str]] = {
    "gcp:compute/getZones:getZones": {"compute.zones.list"},
    "gcp:compute/getMachineTypes:getMachineTypes": {"compute.machineTypes.list"},
    "gcp:compute/getImage:getImage": {"compute.images.get", "compute.images.getFromFamily"},
    "gcp:compute/getNetworks:getNetworks": {"compute.networks.list"},
    "gcp:compute/getNetwork:getNetwork": {"compute.networks.get"},
    "gcp:compute/getSubnetworks:getSubnetworks": {"compute.subnetworks.list"},
}
# doctor's reads (gcp_doctor.py) and the engine's adoption by name (gcp_leaks.py).
GCP_ENGINE = {"compute.projects.get", "compute.regions.get", "compute.instances.get"}
# Only in the instances role, bound with a condition on the instance's name.
INSTANCE_MUTATIONS = {
    "compute.instances.setMetadata",
    "compute.instances.setLabels",
    "compute.instances.setTags",
    "compute.instances.delete",
}

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMEMgR02k50mUgkreZfTH914oRZuMYV56LlztoBjLF7L t@e"
BASE: dict[str, Any] = {
    "provider": "GCP",
    "region": "us-central1",
    "project": "perm-project",
    "disk_gb": 100,
    "expires_at": "2026-11-26T11:00:00Z",
    "hard_deadline": "2026-11-26T14:00:00Z",
    "user_id": "alice",
    "ssh_public_key": KEY,
}


class Collecting(FakeCloud):
    def __init__(self) -> None:
        super().__init__(seed="gcp-permissions")
        self.types: set[str] = set()
        self.invokes: set[str] = set()

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.typ.startswith("pulumi:providers:"):
            self.types.add(args.typ)
        return super().new_resource(args)

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        self.invokes.add(args.token)
        return super().call(args)


def declared() -> Collecting:
    """On-demand and spot, an accelerator-optimized type and N1 + T4, with and without CIDRs;
    the first instance declares the shared network, the second finds it."""
    specs = [
        InstanceSpec(instance_id="inst-g1", instance_type="g2-standard-4", **BASE),
        InstanceSpec(
            instance_id="inst-g2",
            instance_type="n1-standard-4+t4",
            zones=("us-central1-b",),
            allowed_ssh_cidrs=("203.0.113.0/24",),
            spot=True,
            idle_minutes=30,
            **BASE,
        ),
    ]
    cloud = Collecting()
    for spec in specs:
        run_program(program_for(spec), cloud, stack=spec.instance_id)
    return cloud


def role(name: str) -> dict[str, Any]:
    return dict(json.loads((DOCS / name).read_text()))


def granted() -> set[str]:
    return set(role("gcp-role.json")["includedPermissions"]) | set(
        role("gcp-instances-role.json")["includedPermissions"]
    )


def needed() -> set[str]:
    cloud = declared()
    assert cloud.types - set(GCP_RESOURCES) == set(), "add these to GCP_RESOURCES and a role"
    assert cloud.invokes - set(GCP_INVOKES) == set(), "add these to GCP_INVOKES and a role"
    found = set().union(*(GCP_RESOURCES[t] for t in cloud.types))
    return found | set().union(*(GCP_INVOKES[i] for i in cloud.invokes)) | GCP_ENGINE


def test_the_gcp_roles_hold_exactly_what_the_program_doctor_and_engine_use() -> None:
    cloud = declared()
    assert {"gcp:compute/network:Network", "gcp:compute/firewall:Firewall"} <= cloud.types
    assert "gcp:compute/getNetworks:getNetworks" in cloud.invokes
    assert granted() == needed()
    for name in ("gcp-role.json", "gcp-instances-role.json"):
        permissions = role(name)["includedPermissions"]
        assert permissions == sorted(set(permissions)), name


def test_removing_any_one_permission_is_caught() -> None:
    wanted, have = needed(), granted()
    for permission in sorted(have):
        assert wanted - (have - {permission}) == {permission}, permission


def test_no_project_wide_set_metadata() -> None:
    """setMetadata (a VM's startup script), and the other instance mutations, are only in the
    role bound on our instances' names (docs/gcp.md shows the binding's condition)."""
    assert not INSTANCE_MUTATIONS & set(role("gcp-role.json")["includedPermissions"])
    assert set(role("gcp-instances-role.json")["includedPermissions"]) == INSTANCE_MUTATIONS
    doc = (DOCS / "gcp.md").read_text()
    assert 'resource.name.extract("/instances/{name}").startsWith("provisioner-")' in doc
