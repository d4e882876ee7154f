"""A fake AWS and Azure behind `pulumi.runtime.Mocks`: well-formed ids and addresses, no cloud.

Every fabricated value is a hash of (seed, resource type, resource name, resource inputs, field),
so a run is deterministic per seed whatever order the resources register in, and stacks sharing one
FakeCloud still get distinct values (their inputs differ: tags, names). The object holds no mutable
state besides the provider regions it has seen (under a lock). Public addresses come from
203.0.113.0/24 (TEST-NET-3, documentation space), private ones from 10.0.0.0/8. State is the
inputs plus the fabricated outputs, in the camelCase wire names the mocks use.

Standalone on purpose: it imports pulumi and the stdlib only, never the rest of provisioner.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Callable
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
ACCOUNT_ID = "123456789012"
DEFAULT_AWS_REGION = "us-east-1"
DLAMI_ROOT_SNAPSHOT_GB = 75  # EC2 refuses a root volume smaller than the AMI's snapshot
DEFAULT_AMI_NAME = "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) 20250101"

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


class FakeCloud(Mocks):
    """Answers resource creation and invokes the way AWS and Azure would, with made-up values.

    `seed` (e.g. the stack name) makes the values repeatable; without it each FakeCloud draws a
    random one. `on_resource(args)` is called before anything is fabricated for a resource
    (providers included); if it raises, that resource's creation fails with its exception.
    """

    def __init__(self, seed: str | None = None, on_resource: ResourceHook | None = None):
        self.seed = seed if seed is not None else secrets.token_hex(8)
        self.on_resource = on_resource
        self._lock = threading.Lock()
        self._provider_regions: dict[str, str] = {}

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
            if "region" in inputs:
                with self._lock:
                    self._provider_regions[resource_id] = str(inputs["region"])
            return resource_id, inputs
        if not args.custom:
            return None, inputs  # a component: nothing to fabricate
        if typ.startswith("aws:"):
            return self._aws_resource(args, who, inputs)
        if typ.startswith("azure-native:"):
            return self._azure_resource(args, who, inputs)
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
            ids = [f"subnet-{self._hex(17, 'subnet', region, az)}" for az in "abc"]
            return {"id": region, "ids": ids, "filters": args.args.get("filters", [])}
        if args.token == "aws:ec2/getSubnet:getSubnet":
            subnet_id = str(args.args.get("id") or f"subnet-{self._hex(17, 'subnet', *parts)}")
            return {
                "id": subnet_id,
                "vpcId": self._vpc(region)["id"],
                "availabilityZone": f"{region}a",
                "cidrBlock": f"10.0.{self._octet(0, 255, 'cidr', subnet_id)}.0/24",
                "defaultForAz": False,
                "state": "available",
            }
        raise NotImplementedError(f"FakeCloud has no answer for the invoke {args.token}")

    # -- AWS -----------------------------------------------------------------------------------

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
                availabilityZone=state.get("availabilityZone") or f"{region}a",
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
        state.setdefault("name", name)
        return f"{name}-{self._hex(17, who)}", state

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
