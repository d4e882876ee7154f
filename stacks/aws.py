"""One GPU VM on EC2: security group, optional key pair, instance with an encrypted gp3 root.

Everything goes through an explicit provider for `spec.region` (never ambient config), and every
taggable resource carries `spec.provisioner_tags()` explicitly (no provider default_tags).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi
import pulumi_aws
import pulumi_aws.ec2 as ec2

from stacks import aws_backstop
from stacks.deadman import aws_user_data
from stacks.disks import AWS_DATA_DEVICE, data_disk_script
from stacks.spec import (
    DATA_MOUNT,
    OUTPUT_CLOUD_INSTANCE_ID,
    OUTPUT_METADATA,
    OUTPUT_PRIVATE_IP,
    OUTPUT_PUBLIC_IP,
    SSH_USERS,
    TAG_STACK,
    VM_CREATE_TIMEOUT_MINUTES,
    InstanceSpec,
)

# pulumi_aws loads submodules lazily, and that load is not thread-safe (pulumi._utils._LazyModule
# swaps the module's class before executing it, so a second thread can see it half-loaded and miss
# attributes). Load ec2 fully now, under this module's import lock, before programs run in threads.
_LOADED = (ec2.Instance,)

# AWS's Deep Learning Base AMI: Ubuntu 22.04 with the NVIDIA driver, CUDA and Docker's NVIDIA
# runtime preinstalled, published by Amazon in every region (so no per-region id table).
DEFAULT_AMI_NAME = "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)*"

# IMDSv2 only, and a hop limit of 1: the instance has no IAM role, and a limit of 1 keeps
# containers on Docker's bridge network (one hop away) from reading instance metadata at all.
# Tasks that need IMDS can run with host networking.
IMDS_HOP_LIMIT = 1


def _ingress(cidrs: tuple[str, ...]) -> list[ec2.SecurityGroupIngressArgs]:
    """SSH from exactly `cidrs` (IPv4 and IPv6 split as AWS wants), or nothing at all."""
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]
    v4 = [str(n) for n in networks if n.version == 4]
    v6 = [str(n) for n in networks if n.version == 6]
    if not (v4 or v6):
        return []
    return [
        ec2.SecurityGroupIngressArgs(
            description="SSH from allowed CIDRs",
            protocol="tcp",
            from_port=22,
            to_port=22,
            cidr_blocks=v4 or None,
            ipv6_cidr_blocks=v6 or None,
        )
    ]


def _zones_offering(
    spec: InstanceSpec, invoke: pulumi.InvokeOutputOptions
) -> pulumi.Output[list[str]]:
    """The availability zones to launch in, in order: `spec.zone` if it offers the type, else
    every zone that does, by name. Raises with AWS's own wording when none does."""
    offerings = ec2.get_instance_type_offerings_output(
        location_type="availability-zone",
        filters=[
            ec2.GetInstanceTypeOfferingsFilterArgs(
                name="instance-type", values=[spec.instance_type]
            )
        ],
        opts=invoke,
    )
    return offerings.locations.apply(lambda zones: candidate_zones(spec, list(zones or [])))


def candidate_zones(spec: InstanceSpec, offered: list[str]) -> list[str]:
    zones = sorted(set(offered))
    if spec.zone:
        if spec.zone in zones:
            return [spec.zone]
        elsewhere = ", ".join(zones) or "no zone of this region"
        raise ValueError(
            f"Unsupported: Your requested instance type ({spec.instance_type}) is not supported "
            f"in your requested Availability Zone ({spec.zone}). Please retry your request by "
            f"not specifying an Availability Zone or choosing {elsewhere}."
        )
    if not zones:
        raise ValueError(
            f"Unsupported: Your requested instance type ({spec.instance_type}) is not supported "
            f"in any Availability Zone of {spec.region}."
        )
    return zones


def _network(
    spec: InstanceSpec, invoke: pulumi.InvokeOutputOptions
) -> tuple[pulumi.Output[str], pulumi.Output[str], pulumi.Output[str]]:
    """(vpc id, subnet id, zone): `spec.subnet_id` with its VPC and zone, else the default VPC's
    default subnet in the first zone that offers the type *and has a default subnet* (#25: a
    zone without one made a misleading "no default VPC"), `spec.zone` when given."""
    if spec.subnet_id:
        subnet = ec2.get_subnet_output(id=spec.subnet_id, opts=invoke)
        return subnet.vpc_id, pulumi.Output.from_input(spec.subnet_id), subnet.availability_zone
    vpc_id = ec2.get_vpc_output(default=True, opts=invoke).id
    zones = _zones_offering(spec, invoke)
    subnets = ec2.get_subnets_output(
        filters=pulumi.Output.all(vpc_id, zones).apply(
            lambda args: [
                ec2.GetSubnetsFilterArgs(name="vpc-id", values=[args[0]]),
                ec2.GetSubnetsFilterArgs(name="default-for-az", values=["true"]),
                ec2.GetSubnetsFilterArgs(name="availability-zone", values=list(args[1])),
            ]
        ),
        opts=invoke,
    )

    def zones_of(ids: list[str]) -> pulumi.Output[list[Any]]:
        """[(zone, subnet id)] of the default subnets found (one getSubnet each)."""
        found = [
            pulumi.Output.all(ec2.get_subnet_output(id=i, opts=invoke).availability_zone, i)
            for i in sorted(ids or [])
        ]
        return pulumi.Output.all(*found)

    pairs: pulumi.Output[Any] = subnets.ids.apply(zones_of)
    chosen = pulumi.Output.all(zones, pairs).apply(
        lambda args: _first_subnet(list(args[0]), dict(args[1]), spec)
    )
    return vpc_id, chosen.apply(lambda pair: pair[1]), chosen.apply(lambda pair: pair[0])


def _first_subnet(zones: list[str], subnet_of: dict[str, str], spec: InstanceSpec) -> list[str]:
    """[zone, subnet]: the first candidate zone with a default subnet."""
    for zone in zones:
        if zone in subnet_of:
            return [zone, subnet_of[zone]]
    raise ValueError(
        f"no default subnet in {', '.join(zones)} (the zones of {spec.region} offering "
        f"{spec.instance_type}) or no default VPC: configure a subnet for the region, "
        f"PROVISIONER_AWS_SUBNET_ID={spec.region}=subnet-... (or create the default ones: "
        f"`aws ec2 create-default-vpc --region {spec.region}`, "
        f"`aws ec2 create-default-subnet --availability-zone {zones[0]}`)"
    )


def _market_options(spec: InstanceSpec) -> ec2.InstanceInstanceMarketOptionsArgs | None:
    """A one-time spot request that terminates on interruption (nothing left to restart)."""
    if not spec.spot:
        return None
    return ec2.InstanceInstanceMarketOptionsArgs(
        market_type="spot",
        spot_options=ec2.InstanceInstanceMarketOptionsSpotOptionsArgs(
            spot_instance_type="one-time",
            instance_interruption_behavior="terminate",
            max_price=None if spec.spot_max_price is None else f"{spec.spot_max_price:.4f}",
        ),
    )


def _ami(
    spec: InstanceSpec, invoke: pulumi.InvokeOutputOptions
) -> tuple[pulumi.Output[str], pulumi.Output[int]]:
    """(AMI id, root volume size): the root is never smaller than the AMI's root snapshot
    (EC2 refuses that with InvalidBlockDeviceMapping), so it is max(requested, snapshot)."""
    if spec.image:
        ami = ec2.get_ami_output(
            most_recent=True,
            filters=[ec2.GetAmiFilterArgs(name="image-id", values=[spec.image])],
            opts=invoke,
        )
        ami_id: pulumi.Output[str] = pulumi.Output.from_input(spec.image)
    else:
        ami = ec2.get_ami_output(
            most_recent=True,
            owners=["amazon"],
            filters=[
                ec2.GetAmiFilterArgs(name="name", values=[DEFAULT_AMI_NAME]),
                ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
                ec2.GetAmiFilterArgs(name="state", values=["available"]),
            ],
            opts=invoke,
        )
        ami_id = ami.id
    root = pulumi.Output.all(ami.root_device_name, ami.block_device_mappings).apply(
        lambda args: root_size(spec.root_disk_gb, args[0], args[1])
    )
    return ami_id, root


def root_size(requested: int | None, root_device: str | None, mappings: Any) -> int:
    """max(requested, the root snapshot's size); 0 when neither is known (EC2's default)."""
    snapshot = 0
    for mapping in mappings or []:
        device = mapping.get("device_name") if isinstance(mapping, dict) else mapping.device_name
        ebs = mapping.get("ebs") if isinstance(mapping, dict) else mapping.ebs
        if device == root_device and ebs and str(ebs.get("volume_size") or "").isdigit():
            snapshot = int(ebs["volume_size"])
    return max(requested or 0, snapshot)


def program(spec: InstanceSpec) -> None:
    provider = pulumi_aws.Provider("aws", region=spec.region)
    opts = pulumi.ResourceOptions(provider=provider)
    invoke = pulumi.InvokeOutputOptions(provider=provider)
    tags = {**spec.provisioner_tags(), TAG_STACK: spec.stack_name}
    name = f"provisioner-{spec.instance_id}"

    vpc_id, subnet_id, zone = _network(spec, invoke)
    ami_id, root_gb = _ami(spec, invoke)

    security_group = ec2.SecurityGroup(
        "instance-sg",
        name=name,
        description=f"provisioner {spec.instance_id}: SSH only from allowed CIDRs",
        vpc_id=vpc_id,
        ingress=_ingress(spec.allowed_ssh_cidrs),
        egress=[
            ec2.SecurityGroupEgressArgs(
                description="all outbound",
                protocol="-1",
                from_port=0,
                to_port=0,
                cidr_blocks=["0.0.0.0/0"],
                ipv6_cidr_blocks=["::/0"],
            )
        ],
        tags=tags,
        opts=opts,
    )

    user_data, user_data_base64 = aws_user_data(spec, SSH_USERS["AWS"], disks=data_disk_script())
    key_name: pulumi.Output[str] | None = None
    if spec.ssh_public_key:
        key_pair = ec2.KeyPair(
            "ssh-key",
            key_name=name,
            public_key=spec.ssh_public_key,
            tags=tags,
            opts=opts,
        )
        key_name = key_pair.key_name

    instance = ec2.Instance(
        "instance",
        ami=ami_id,
        instance_type=spec.instance_type,
        subnet_id=subnet_id,
        availability_zone=zone,
        instance_market_options=_market_options(spec),
        vpc_security_group_ids=[security_group.id],
        associate_public_ip_address=True,
        key_name=key_name,
        # The root at max(the catalog's root size, the AMI's root snapshot) (EC2 refuses a root
        # smaller than the snapshot), and the requested size as a data disk mounted at /data.
        root_block_device=ec2.InstanceRootBlockDeviceArgs(
            volume_type="gp3",
            volume_size=root_gb.apply(lambda gb: gb or None),
            encrypted=True,
            delete_on_termination=True,
        ),
        ebs_block_devices=[
            ec2.InstanceEbsBlockDeviceArgs(
                device_name=AWS_DATA_DEVICE,
                volume_type="gp3",
                volume_size=spec.disk_gb,
                encrypted=True,
                delete_on_termination=True,
            )
        ],
        metadata_options=ec2.InstanceMetadataOptionsArgs(
            http_endpoint="enabled",
            http_tokens="required",
            http_put_response_hop_limit=IMDS_HOP_LIMIT,
        ),
        # An OS-initiated shutdown (the deadman's) terminates the instance: nothing left billing.
        instance_initiated_shutdown_behavior="terminate",
        user_data=user_data,
        user_data_base64=user_data_base64,
        tags=tags,
        volume_tags=tags,
        opts=opts.merge(
            pulumi.ResourceOptions(
                custom_timeouts=pulumi.CustomTimeouts(create=f"{VM_CREATE_TIMEOUT_MINUTES}m")
            )
        ),
    )

    # The cloud-side deadline the VM cannot cancel (stacks/aws_backstop.py).
    deadline = aws_backstop.declare(spec, instance, tags, opts)

    pulumi.export(OUTPUT_PUBLIC_IP, instance.public_ip)
    pulumi.export(OUTPUT_PRIVATE_IP, instance.private_ip)
    pulumi.export(OUTPUT_CLOUD_INSTANCE_ID, instance.id)
    pulumi.export(
        OUTPUT_METADATA,
        {
            "region": spec.region,
            "availabilityZone": instance.availability_zone,
            "zone": zone,
            "spot": spec.spot,
            "instanceType": spec.instance_type,
            "amiId": ami_id,
            "securityGroupId": security_group.id,
            "subnetId": subnet_id,
            "vpcId": vpc_id,
            "dataMount": DATA_MOUNT,
            "rootDiskGb": root_gb,
            "deadlineSchedule": deadline.name,
        },
    )
