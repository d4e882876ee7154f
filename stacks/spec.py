"""The contract between the Pulumi programs and the engines.

An `InstanceSpec` is everything one program needs to declare one GPU VM; the OUTPUT_* names are
what every program exports. This module must stay importable without pulumi, so the engines can
build specs cheaply and the programs can read them from stack config in local-program mode.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass, field

# Stack output names, identical for every cloud.
OUTPUT_PUBLIC_IP = "publicIp"
OUTPUT_PRIVATE_IP = "privateIp"
OUTPUT_CLOUD_INSTANCE_ID = "cloudInstanceId"
OUTPUT_METADATA = "metadata"
OUTPUT_NAMES = (OUTPUT_PUBLIC_IP, OUTPUT_PRIVATE_IP, OUTPUT_CLOUD_INSTANCE_ID, OUTPUT_METADATA)

# Stack config key holding the JSON-encoded spec (local-program mode, `Pulumi.yaml` main: stacks/).
CONFIG_KEY = "spec"

# Tag keys the programs put on every taggable resource.
TAG_INSTANCE_ID = "provisioner:instance-id"
TAG_TASK_ID = "provisioner:task-id"
TAG_USER_ID = "provisioner:user-id"
TAG_EXPIRES_AT = "provisioner:expires-at"
TAG_MANAGED_BY = "provisioner:managed-by"
# AWS: the stack (attempt) a resource belongs to, `<id>` or `<id>-aN`: the leak search after a
# cut-short create looks for exactly this attempt's VMs (engine/pulumi/leaks.py).
TAG_STACK = "provisioner:stack"
# Which attempt made the resource, from the second on (the first keeps the tags it always had):
# a leaked VM of attempt N is found by the instance id AND this (engine/pulumi/leaks.py).
TAG_ATTEMPT = "provisioner:attempt"

# How long the cloud provider may take to create the VM before it gives up (custom_timeouts);
# the engine's watchdog lets a cancelled up run longer than this, so no create is left in flight.
VM_CREATE_TIMEOUT_MINUTES = 15
DATA_MOUNT = "/data"

# Resource type tokens of the VM itself: the engines report its creation as "VM exists".
VM_RESOURCE_TYPES = (
    "aws:ec2/instance:Instance",
    "azure-native:compute:VirtualMachine",
    "gcp:compute/instance:Instance",
)

# Each provider's Pulumi SDK and the extra that installs it (`pip install 'provisioner[gcp]'`).
CLOUD_SDKS = {
    "AWS": ("pulumi_aws", "aws"),
    "AZURE": ("pulumi_azure_native", "azure"),
    "GCP": ("pulumi_gcp", "gcp"),
}


def missing_sdk(provider: str) -> str | None:
    """One line naming the extra to install when `provider`'s Pulumi SDK is missing, else None.
    Looks the package up without importing it (cheap, and pulumi stays unimported)."""
    package, extra = CLOUD_SDKS.get(provider.upper(), (None, None))
    if package is None:
        return None
    try:
        if importlib.util.find_spec(package) is not None:
            return None
    except ImportError:  # e.g. a meta-path hook that refuses it: as good as missing
        pass
    return (
        f"Provider {provider.upper()} needs its Pulumi SDK ({package.replace('_', '-')}), which "
        f"is not installed: pip install 'provisioner[{extra}]' (or run ./scripts/bootstrap.sh)"
    )


# The login user of each provider's default image (AWS DLAMI: ubuntu; Azure: the admin user the
# program creates). One table for the programs, the ledger's sshUser and the SSH layer; a new
# provider adds its row here.
SSH_USERS: dict[str, str] = {"AWS": "ubuntu", "AZURE": "azureuser", "GCP": "provisioner"}


def ssh_user_for(provider: str) -> str | None:
    return SSH_USERS.get(provider.upper())


def attempt_stack_name(instance_id: str, attempt: int) -> str:
    """The stack of one attempt: the instance id for the first, `<id>-a<N>` after it."""
    return instance_id if attempt <= 1 else f"{instance_id}-a{attempt}"


def attempt_of_stack(stack_name: str) -> int:
    """The attempt a stack is for (inverse of `attempt_stack_name`)."""
    base = instance_of_stack(stack_name)
    return 1 if base == stack_name else int(stack_name[len(base) + 2 :])


def instance_of_stack(stack_name: str) -> str:
    """The instance id a stack belongs to (inverse of `attempt_stack_name`)."""
    base, sep, number = stack_name.rpartition("-a")
    return base if sep and base and number.isdigit() and len(number) <= 3 else stack_name


@dataclass(frozen=True)
class InstanceSpec:
    """One instance request, as a Pulumi program sees it.

    Times are ISO-8601 UTC strings ending in "Z" so the spec round-trips through JSON unchanged.
    `hard_deadline` is when the on-VM deadman fires; `expires_at` is the soft expiry the reaper
    acts on (recorded as a tag only).
    """

    instance_id: str
    provider: str  # "AWS" | "AZURE" | "GCP"
    instance_type: str
    region: str
    disk_gb: int
    expires_at: str
    hard_deadline: str
    user_id: str
    task_id: str | None = None
    ssh_public_key: str | None = None
    allowed_ssh_cidrs: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    # Overrides from settings: AWS AMI id, or Azure image URN "publisher:offer:sku:version".
    image: str | None = None
    # GCP only: the project (None: the simulation's, or the engine fills in the ADC project).
    project: str | None = None
    # AWS only: launch into this subnet instead of the region's default VPC/subnet.
    subnet_id: str | None = None
    # Where in the region (None: the program picks a zone that offers the type) and how:
    # spot VMs are reclaimed by the cloud at will; spot_max_price None means "up to on-demand".
    zone: str | None = None
    # GCP: the zones to choose from, in order, when zone is None (the catalog's zones that offer
    # the accelerator; the program checks each with a machine-type lookup).
    zones: tuple[str, ...] = ()
    spot: bool = False
    spot_max_price: float | None = None
    # First-boot work after the deadman is in place (cloud-init), and the idle auto-stop window.
    setup_script: str | None = None
    idle_minutes: int | None = None
    # The image's own root size (AWS: the root volume is made this size and `disk_gb` becomes a
    # data disk at /data; None: EC2 sizes the root from the AMI), and a VM extension that
    # installs the GPU driver (Azure: "NvidiaGpuDriverLinux" for the GRID driver on A10 v5).
    root_disk_gb: int | None = None
    gpu_driver_extension: str | None = None
    # Which try of the request this is (failover, recovery): each attempt has its own stack.
    attempt: int = 1

    @property
    def stack_name(self) -> str:
        return attempt_stack_name(self.instance_id, self.attempt)

    def provisioner_tags(self) -> dict[str, str]:
        """The tags that mark a resource as ours, user tags first so ours win on collision."""
        tags = dict(self.tags)
        tags.update(
            {
                "Name": f"provisioner-{self.instance_id}",
                TAG_INSTANCE_ID: self.instance_id,
                TAG_USER_ID: self.user_id,
                TAG_EXPIRES_AT: self.expires_at,
                TAG_MANAGED_BY: "provisioner",
            }
        )
        if self.task_id:
            tags[TAG_TASK_ID] = self.task_id
        if self.attempt >= 2:
            tags[TAG_ATTEMPT] = str(self.attempt)
        return tags

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> InstanceSpec:
        data = json.loads(text)
        data["allowed_ssh_cidrs"] = tuple(data.get("allowed_ssh_cidrs") or ())
        data["zones"] = tuple(data.get("zones") or ())
        return cls(**data)
