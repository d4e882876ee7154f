"""A fake AWS, Azure and GCP behind `pulumi.runtime.Mocks`: well-formed ids and addresses, no cloud.

Every fabricated value is a hash of (seed, resource type, resource name, resource inputs, field),
so a run is deterministic per seed whatever order the resources register in, and stacks sharing one
FakeCloud still get distinct values (their inputs differ: tags, names). The object holds no mutable
state besides the provider regions it has seen (under a lock). Public addresses come from
203.0.113.0/24 (TEST-NET-3, documentation space), private ones from 10.0.0.0/8. State is the
inputs plus the fabricated outputs, in the camelCase wire names the mocks use.

Standalone on purpose: it imports pulumi and the stdlib only, never the rest of provisioner.

Near 450 lines on purpose: one fake of three clouds whose answers (AWS, GCP, Azure resources and
invokes) all draw on the same seeded hash helpers and the same region/project bookkeeping;
splitting per cloud would spread those across modules that must stay in step.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
ACCOUNT_ID = "123456789012"
DEFAULT_AWS_REGION = "us-east-1"
DLAMI_ROOT_SNAPSHOT_GB = 75  # EC2 refuses a root volume smaller than the AMI's snapshot
DEFAULT_AMI_NAME = "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) 20250101"
GCP_PROJECT = "provisioner-simulated"  # when the provider names none
GCP_API = "https://www.googleapis.com/compute/v1"
# GCP accelerator-optimized machine types: (vCPUs, memory MB, accelerator type, count).
_GCP_GPU_MACHINES: dict[str, tuple[int, int, str, int]] = {
    "g2-standard-4": (4, 16384, "nvidia-l4", 1),
    "a2-highgpu-1g": (12, 87040, "nvidia-tesla-a100", 1),
    "a3-highgpu-8g": (208, 1916928, "nvidia-h100-80gb", 8),
}

# Azure resource type token -> (ARM provider path, input holding the resource's name).
_AZURE_TYPES: dict[str, tuple[str, str]] = {
    "azure-native:resources:ResourceGroup": ("", "resourceGroupName"),
    "azure-native:network:VirtualNetwork": (
        "Microsoft.Network/virtualNetworks",
        "virtualNetworkName",
    ),
    "azure-native:network:Subnet": (
        "Microsoft.Network/virtualNetworks/{vnet}/subnets",
        "subnetName",
    ),
    "azure-native:network:NetworkSecurityGroup": (
        "Microsoft.Network/networkSecurityGroups",
        "networkSecurityGroupName",
    ),
    "azure-native:network:PublicIPAddress": (
        "Microsoft.Network/publicIPAddresses",
        "publicIpAddressName",
    ),
    "azure-native:network:NetworkInterface": (
        "Microsoft.Network/networkInterfaces",
        "networkInterfaceName",
    ),
    "azure-native:compute:VirtualMachine": ("Microsoft.Compute/virtualMachines", "vmName"),
    "azure-native:devtestlab:GlobalSchedule": ("Microsoft.DevTestLab/schedules", "name"),
}

ResourceHook = Callable[[MockResourceArgs], None]
# (region, instance type, the region's zones) -> the zones that offer the type.
OfferingHook = Callable[[str, str, list[str]], list[str]]


def default_zones(region: str) -> list[str]:
    """Zones of a region the table passed in does not know: a, b and c, as most regions have."""
    return [f"{region}{letter}" for letter in "abc"]


class FakeCloud(Mocks):
    """Answers resource creation and invokes the way AWS, Azure and GCP would, with made-up values.

    `seed` (e.g. the stack name) makes the values repeatable; without it each FakeCloud draws a
    random one. `on_resource(args)` is called before anything is fabricated for a resource
    (providers included); if it raises, that resource's creation fails with its exception.
    """

    def __init__(
        self,
        seed: str | None = None,
        on_resource: ResourceHook | None = None,
        *,
        zones: Mapping[str, Sequence[str]] | None = None,
        offered: OfferingHook | None = None,
    ):
        self.seed = seed if seed is not None else secrets.token_hex(8)
        self.on_resource = on_resource
        self.zones = {region: list(names) for region, names in (zones or {}).items()}
        self.offered = offered
        self._lock = threading.Lock()
        self._provider_regions: dict[str, str] = {}
        self._provider_projects: dict[str, str] = {}
        # What this fake project holds, for the lookups by name: networks and subnetworks.
        self._gcp_networks: set[tuple[str, str]] = set()  # (project, name)
        self._gcp_subnets: dict[tuple[str, str, str], str] = {}  # (project, region, name) -> net

    # -- deterministic randomness -------------------------------------------------------------

    def _digest(self, *parts: str) -> bytes:
        return hashlib.sha256("\x1f".join((self.seed, *parts)).encode()).digest()

    def _hex(self, length: int, *parts: str) -> str:
        return self._digest(*parts).hex()[:length]

    def _octet(self, low: int, high: int, *parts: str) -> int:
        return low + int.from_bytes(self._digest(*parts)[:4], "big") % (high - low + 1)

    def _uuid(self, *parts: str) -> str:
        return str(uuid.UUID(bytes=self._digest(*parts)[:16], version=4))

    def public_ip(self, *parts: str) -> str:
        return f"203.0.113.{self._octet(1, 254, 'public-ip', *parts)}"

    @staticmethod
    def _identity(args: MockResourceArgs) -> str:
        """What tells this resource apart from any other one: type, name and inputs."""
        inputs = json.dumps(args.inputs, sort_keys=True, default=str)
        return "\x1f".join((args.typ, args.name, hashlib.sha256(inputs.encode()).hexdigest()))

    # -- Mocks ---------------------------------------------------------------------------------

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if self.on_resource is not None:
            self.on_resource(args)
        inputs = dict(args.inputs)
        typ, name = args.typ, args.name
        who = self._identity(args)
        if typ.startswith("pulumi:providers:"):
            resource_id = self._uuid("provider", who)
            with self._lock:
                if "region" in inputs:
                    self._provider_regions[resource_id] = str(inputs["region"])
                if "project" in inputs:
                    self._provider_projects[resource_id] = str(inputs["project"])
            return resource_id, inputs
        if not args.custom:
            return None, inputs  # a component: nothing to fabricate
        if typ.startswith("aws:"):
            return self._aws_resource(args, who, inputs)
        if typ.startswith("azure-native:"):
            return self._azure_resource(args, who, inputs)
        if typ.startswith("gcp:"):
            return self._gcp_resource(args, who, inputs)
        inputs.setdefault("name", name)
        return f"{name}-{self._hex(8, 'id', who)}", inputs

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        region = self._region_of(args.provider, args.args)
        parts = (args.token, repr(sorted(args.args.items(), key=lambda kv: kv[0])))
        if args.token == "aws:ec2/getAmi:getAmi":
            ami = f"ami-{self._hex(17, 'ami', region, *parts)}"
            return {
                "id": ami,
                "imageId": ami,
                "name": DEFAULT_AMI_NAME,
                "architecture": "x86_64",
                "state": "available",
                "ownerId": ACCOUNT_ID,
                "rootDeviceName": "/dev/sda1",
                "blockDeviceMappings": [
                    {
                        "deviceName": "/dev/sda1",
                        "ebs": {"volume_size": str(DLAMI_ROOT_SNAPSHOT_GB), "volume_type": "gp3"},
                    }
                ],
            }
        if args.token == "aws:ec2/getVpc:getVpc":
            return self._vpc(region)
        if args.token == "aws:ec2/getSubnets:getSubnets":
            zones = self.zones_of(region)
            for item in args.args.get("filters") or []:
                if item.get("name") == "availability-zone":
                    zones = [z for z in zones if z in item.get("values", [])]
            ids = [self.subnet_id(region, zone) for zone in zones]
            return {"id": region, "ids": ids, "filters": args.args.get("filters", [])}
        if args.token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
            types = [
                value
                for item in args.args.get("filters") or []
                if item.get("name") == "instance-type"
                for value in item.get("values", [])
            ]
            zones = self.zones_of(region)
            pairs = [
                (itype, zone)
                for itype in types
                for zone in (self.offered(region, itype, zones) if self.offered else zones)
            ]
            return {
                "id": region,
                "filters": args.args.get("filters", []),
                "locationType": args.args.get("locationType", "availability-zone"),
                "instanceTypes": [t for t, _ in pairs],
                "locations": [z for _, z in pairs],
                "locationTypes": ["availability-zone"] * len(pairs),
            }
        if args.token == "aws:ec2/getSubnet:getSubnet":
            subnet_id = str(args.args.get("id") or f"subnet-{self._hex(17, 'subnet', *parts)}")
            defaults = {self.subnet_id(region, z): z for z in self.zones_of(region)}
            return {
                "id": subnet_id,
                "vpcId": self._vpc(region)["id"],
                "availabilityZone": defaults.get(subnet_id, self.zones_of(region)[0]),
                "cidrBlock": f"10.0.{self._octet(0, 255, 'cidr', subnet_id)}.0/24",
                "defaultForAz": subnet_id in defaults,
                "state": "available",
            }
        if args.token.startswith("gcp:"):
            return self._gcp_call(args)
        raise NotImplementedError(f"FakeCloud has no answer for the invoke {args.token}")

    # -- AWS -----------------------------------------------------------------------------------

    def zones_of(self, region: str) -> list[str]:
        return list(self.zones.get(region) or default_zones(region))

    def subnet_id(self, region: str, zone: str) -> str:
        """The default subnet of `zone`: the same id in every stack, as in one real account."""
        digest = hashlib.sha256(f"subnet\x1f{region}\x1f{zone}".encode()).hexdigest()
        return f"subnet-{digest[:17]}"

    def _region_of(self, provider_ref: str | None, inputs: dict[str, Any]) -> str:
        if inputs.get("region"):
            return str(inputs["region"])
        provider_id = (provider_ref or "").rsplit("::", 1)[-1]
        with self._lock:
            return self._provider_regions.get(provider_id, DEFAULT_AWS_REGION)

    def _vpc(self, region: str) -> dict[str, Any]:
        vpc_id = f"vpc-{self._hex(17, 'vpc', region)}"
        return {
            "id": vpc_id,
            "arn": f"arn:aws:ec2:{region}:{ACCOUNT_ID}:vpc/{vpc_id}",
            "cidrBlock": "10.0.0.0/16",
            "default": True,
            "ownerId": ACCOUNT_ID,
            "state": "available",
        }

    def _aws_resource(
        self, args: MockResourceArgs, who: str, state: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        typ, name = args.typ, args.name
        region = self._region_of(args.provider, state)
        arn_prefix = f"arn:aws:ec2:{region}:{ACCOUNT_ID}"
        if typ == "aws:ec2/instance:Instance":
            resource_id = f"i-{self._hex(17, who)}"
            private_ip = (
                f"10.0.{self._octet(0, 255, 'private', who)}"
                f".{self._octet(4, 254, 'private-host', who)}"
            )
            public_ip = self.public_ip(who)
            internal, external = (
                ("ec2.internal", "compute-1")
                if region == "us-east-1"
                else (f"{region}.compute.internal", f"{region}.compute")
            )
            root = dict(state.get("rootBlockDevice") or {})
            root.setdefault("volumeId", f"vol-{self._hex(17, 'root', who)}")
            root.setdefault("deviceName", "/dev/sda1")
            state.update(
                arn=f"{arn_prefix}:instance/{resource_id}",
                availabilityZone=state.get("availabilityZone") or self.zones_of(region)[0],
                instanceState="running",
                privateIp=private_ip,
                privateDns=f"ip-{private_ip.replace('.', '-')}.{internal}",
                publicIp=public_ip,
                publicDns=f"ec2-{public_ip.replace('.', '-')}.{external}.amazonaws.com",
                primaryNetworkInterfaceId=f"eni-{self._hex(17, 'eni', who)}",
                rootBlockDevice=root,
            )
            return resource_id, state
        if typ == "aws:ec2/securityGroup:SecurityGroup":
            resource_id = f"sg-{self._hex(17, who)}"
            state.setdefault("name", name)
            state.update(arn=f"{arn_prefix}:security-group/{resource_id}", ownerId=ACCOUNT_ID)
            return resource_id, state
        if typ == "aws:ec2/keyPair:KeyPair":
            key_name = state.get("keyName") or name
            digest = self._hex(32, "fingerprint", who)
            state.update(
                keyName=key_name,
                keyPairId=f"key-{self._hex(17, who)}",
                arn=f"{arn_prefix}:key-pair/{key_name}",
                fingerprint=":".join(digest[i : i + 2] for i in range(0, 32, 2)),
            )
            return key_name, state  # AWS identifies a key pair by its name
        if typ == "aws:iam/role:Role":  # IAM is global: the role's name is its id
            role_name = state.get("name") or name
            state.update(name=role_name, arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}")
            return role_name, state
        if typ == "aws:scheduler/schedule:Schedule":
            schedule_name = state.get("name") or name
            group = state.get("groupName") or "default"
            state.update(
                name=schedule_name,
                groupName=group,
                arn=f"arn:aws:scheduler:{region}:{ACCOUNT_ID}:schedule/{group}/{schedule_name}",
            )
            return f"{group}/{schedule_name}", state
        state.setdefault("name", name)
        return f"{name}-{self._hex(17, who)}", state

    # -- GCP -------------------------------------------------------------------------------------

    def _gcp_project(self, provider_ref: str | None, inputs: dict[str, Any]) -> str:
        if inputs.get("project"):
            return str(inputs["project"])
        provider_id = (provider_ref or "").rsplit("::", 1)[-1]
        with self._lock:
            return self._provider_projects.get(provider_id, GCP_PROJECT)

    def _gcp_call(self, args: MockCallArgs) -> dict[str, Any]:
        project = self._gcp_project(args.provider, args.args)
        if args.token == "gcp:compute/getZones:getZones":
            region = str(args.args.get("region") or self._region_of(args.provider, {}))
            letters = "abcf" if region == "us-central1" else "abc"
            return {
                "id": f"projects/{project}/regions/{region}",
                "names": [f"{region}-{letter}" for letter in letters],
                "project": project,
                "region": region,
                "status": args.args.get("status"),
            }
        if args.token == "gcp:compute/getMachineTypes:getMachineTypes":
            zone = str(args.args.get("zone") or "")
            wanted = str(args.args.get("filter") or "").partition("=")[2].strip()
            return {
                "id": f"projects/{project}/zones/{zone}/machineTypes",
                "filter": args.args.get("filter"),
                "project": project,
                "zone": zone,
                "machineTypes": [self._gcp_machine_type(wanted, zone)] if wanted else [],
            }
        if args.token == "gcp:compute/getImage:getImage":
            image_project = str(args.args.get("project") or project)
            family = str(args.args.get("family") or "image")
            name = f"{family}-v{self._hex(8, 'image', family)}"
            return {
                "id": f"projects/{image_project}/global/images/{name}",
                "name": name,
                "family": family,
                "project": image_project,
                "selfLink": f"{GCP_API}/projects/{image_project}/global/images/{name}",
                "status": "READY",
                "diskSizeGb": 50,
                "guestOsFeatures": ["UEFI_COMPATIBLE", "VIRTIO_SCSI_MULTIQUEUE", "GVNIC"],
            }
        if args.token == "gcp:compute/getNetworks:getNetworks":
            with self._lock:
                names = sorted(n for p, n in self._gcp_networks if p == project)
            return {
                "id": f"projects/{project}",
                "networks": names,
                "project": project,
                "selfLink": f"{GCP_API}/projects/{project}/global/networks",
            }
        if args.token == "gcp:compute/getNetwork:getNetwork":
            name = str(args.args.get("name"))
            with self._lock:
                if (project, name) not in self._gcp_networks:
                    raise RuntimeError(f"network {name} not found in {project}")
            path = f"projects/{project}/global/networks/{name}"
            return {"id": path, "name": name, "project": project, "selfLink": f"{GCP_API}/{path}"}
        if args.token == "gcp:compute/getSubnetworks:getSubnetworks":
            region = str(args.args.get("region") or self._region_of(args.provider, {}))
            with self._lock:
                found = sorted(
                    (name, net)
                    for (p, r, name), net in self._gcp_subnets.items()
                    if p == project and r == region
                )
            return {
                "id": f"projects/{project}/regions/{region}/subnetworks",
                "project": project,
                "region": region,
                "subnetworks": [
                    {
                        "name": name,
                        "selfLink": f"{GCP_API}/projects/{project}/regions/{region}/"
                        f"subnetworks/{name}",
                        "network": net,
                        "networkName": net.rsplit("/", 1)[-1],
                        "networkSelfLink": f"{GCP_API}/{net}",
                        "ipCidrRange": "10.128.0.0/20",
                        "description": "",
                        "privateIpGoogleAccess": False,
                    }
                    for name, net in found
                ],
            }
        raise NotImplementedError(f"FakeCloud has no answer for the invoke {args.token}")

    def _gcp_machine_type(self, name: str, zone: str) -> dict[str, Any]:
        cpus, memory, accelerator, count = _GCP_GPU_MACHINES.get(name, (0, 0, "", 0))
        if not cpus:  # N1 and other general-purpose types: "n1-standard-4" -> 4 vCPUs
            tail = name.rsplit("-", 1)[-1]
            cpus = int(tail) if tail.isdigit() else 1
            memory = cpus * 3840
        return {
            "name": name,
            "guestCpus": cpus,
            "memoryMb": memory,
            "description": f"{cpus} vCPUs, {memory // 1024} GB RAM",
            "selfLink": f"{GCP_API}/projects/{GCP_PROJECT}/zones/{zone}/machineTypes/{name}",
            "accelerators": [{"guestAcceleratorType": accelerator, "guestAcceleratorCount": count}]
            if accelerator
            else [],
            "isSharedCpus": False,
            "maximumPersistentDisks": 128,
            "maximumPersistentDisksSizeGb": 263168,
            "deprecateds": [],
            "bundledLocalSsds": [],
            "architecture": "X86_64",
        }

    def _gcp_resource(
        self, args: MockResourceArgs, who: str, state: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        typ, name = args.typ, args.name
        project = self._gcp_project(args.provider, state)
        resource_name = str(state.get("name") or name)
        state.update(name=resource_name, project=project)
        if typ == "gcp:compute/network:Network":
            path = f"projects/{project}/global/networks/{resource_name}"
            with self._lock:
                self._gcp_networks.add((project, resource_name))
        elif typ == "gcp:compute/firewall:Firewall":
            path = f"projects/{project}/global/firewalls/{resource_name}"
        elif typ == "gcp:compute/subnetwork:Subnetwork":
            region = str(state.get("region") or self._region_of(args.provider, {}))
            path = f"projects/{project}/regions/{region}/subnetworks/{resource_name}"
            state["gatewayAddress"] = "10.128.0.1"
            with self._lock:
                self._gcp_subnets[(project, region, resource_name)] = str(state.get("network"))
        elif typ == "gcp:compute/instance:Instance":
            zone = str(state.get("zone") or "")
            path = f"projects/{project}/zones/{zone}/instances/{resource_name}"
            state["instanceId"] = str(
                int.from_bytes(self._digest("instance-id", who)[:8], "big") % 10**19
            )
            state["networkInterfaces"] = [
                {
                    **interface,
                    "name": f"nic{i}",
                    "networkIp": f"10.128.{self._octet(0, 15, 'gcp-net', who, str(i))}"
                    f".{self._octet(2, 254, 'gcp-host', who, str(i))}",
                    "accessConfigs": [
                        {**config, "natIp": self.public_ip(who, str(i)), "networkTier": "PREMIUM"}
                        for config in interface.get("accessConfigs") or []
                    ],
                }
                for i, interface in enumerate(state.get("networkInterfaces") or [])
            ]
            state["currentStatus"] = "RUNNING"
            state["cpuPlatform"] = "Intel Cascade Lake"
        else:
            path = f"projects/{project}/global/{typ.rsplit(':', 1)[-1].lower()}s/{resource_name}"
        state["selfLink"] = f"{GCP_API}/{path}"
        return path, state

    # -- Azure ---------------------------------------------------------------------------------

    def _azure_resource(
        self, args: MockResourceArgs, who: str, state: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        typ, name = args.typ, args.name
        path, name_key = _AZURE_TYPES.get(typ, ("", "name"))
        resource_name = str(state.get(name_key) or state.get("name") or name)
        state["name"] = resource_name
        rg_path = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups"
        if typ == "azure-native:resources:ResourceGroup":
            state.setdefault("resourceGroupName", resource_name)
            state["type"] = "Microsoft.Resources/resourceGroups"
            return f"{rg_path}/{resource_name}", state
        if not path:
            module, _, kind = typ.removeprefix("azure-native:").partition(":")
            path = f"Microsoft.{module.capitalize()}/{kind[:1].lower()}{kind[1:]}s"
        state["type"] = path.replace("/{vnet}", "")
        path = path.format(vnet=state.get("virtualNetworkName", ""))
        group = state.get("resourceGroupName", "")
        resource_id = f"{rg_path}/{group}/providers/{path}/{resource_name}"
        state.setdefault("provisioningState", "Succeeded")
        if typ == "azure-native:network:PublicIPAddress":
            state["ipAddress"] = self.public_ip(who)
        elif typ == "azure-native:network:NetworkInterface":
            state["ipConfigurations"] = [
                {
                    **config,
                    "id": f"{resource_id}/ipConfigurations/{config.get('name', 'ipconfig1')}",
                    "privateIPAddress": f"10.0.1.{self._octet(4, 254, 'nic', who, str(i))}",
                }
                for i, config in enumerate(state.get("ipConfigurations") or [{}])
            ]
            state["macAddress"] = "-".join(
                self._hex(12, "mac", who)[i : i + 2].upper() for i in range(0, 12, 2)
            )
        elif typ == "azure-native:compute:VirtualMachine":
            state["vmId"] = self._uuid("vmId", who)
        return resource_id, state
