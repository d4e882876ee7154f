"""One GPU VM on Compute Engine: SSH firewall rules of its own (no ingress unless CIDRs are
given) in the project's shared `provisioner` network, and the instance with a pd-balanced boot
disk.

Networking (#25): a project's default quota is a handful of VPC networks, so instances do not
each make one. They share one network, `provisioner` (custom mode), and one subnetwork per region,
`provisioner-<region>`, found by name (`get_networks` / `get_subnetworks`, which list and never
fail on absence) or, for the first instance of a project (or region), declared by its stack with
`retain_on_delete`: that stack's destroy drops them from its state and leaves them in the cloud,
so no destroy removes the network under another instance. They cost nothing. Each instance's SSH
rules target a network tag of its own (`provisioner-<stack>`), so one instance's CIDRs never open
another's port 22. Two first ups racing in one project may both declare the network; the second
fails with "already exists" and its next attempt finds it.

GCP instances are zonal. The zone is `spec.zone` when given; otherwise the first zone, in a stated
order, that offers the type: `spec.zones` in the order given (the catalog's zones for the
accelerator, alphabetical), else the region's UP zones sorted by name, each checked with
`compute.get_machine_types` (accelerator-optimized types list their GPUs there). pulumi-gcp has
no accelerator-type lookup, so N1 + guest accelerators need `spec.zones`.

Instance types are GCP machine types (`g2-standard-4`, `a2-highgpu-1g`, `a3-highgpu-8g`: the GPUs
come with the machine type) or `<N1 machine type>+<gpu>[x<count>]` (`n1-standard-4+t4`,
`n1-standard-16+t4x2`, `n1-standard-8+v100`): an N1 VM with guest accelerators.

Lifetime: the on-VM deadman (a startup script, run at every boot) powers the VM off at the hard
deadline, and Compute Engine itself deletes the VM then (`scheduling.termination_time` with
`instance_termination_action = "DELETE"`), even if provisioner and the VM's OS are both gone.

Everything goes through an explicit provider for `spec.project` and `spec.region` (the engine
sets the project from PROVISIONER_GCP_PROJECT or the Application Default Credentials' project).
Labels are the tags mapped under GCP's rules (stacks/gcp_labels.py).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import zlib

import pulumi
import pulumi_gcp
import pulumi_gcp.compute as compute

from stacks.deadman import parse_deadline, shutdown_script, user_data
from stacks.gcp_labels import gcp_labels
from stacks.spec import (
    OUTPUT_CLOUD_INSTANCE_ID,
    OUTPUT_METADATA,
    OUTPUT_PRIVATE_IP,
    OUTPUT_PUBLIC_IP,
    SSH_USERS,
    InstanceSpec,
)

# The SDK loads submodules lazily, and that load is not thread-safe (see stacks/aws.py).
_LOADED = (
    compute.Instance,
    compute.Network,
    compute.Firewall,
    compute.get_zones,
    compute.get_networks,
    compute.get_subnetworks,
)

# The user the `ssh-keys` metadata creates on the VM (the guest agent adds it with sudo rights).
SSH_USER = SSH_USERS["GCP"]

# Google's Deep Learning VM image: Ubuntu 22.04 with the NVIDIA driver and CUDA, UEFI-compatible
# (Shielded VM). `install-nvidia-driver` makes images without a preinstalled driver install it at
# first boot. Override with PROVISIONER_GCP_IMAGE (an image self link, `project/family`, ...).
DEFAULT_IMAGE_PROJECT = "deeplearning-platform-release"
DEFAULT_IMAGE_FAMILY = "common-cu128-ubuntu-2204-nvidia-570"

# The disk the cost model bills (catalog storage.GCP).
BOOT_DISK_TYPE = "pd-balanced"

# N1 guest accelerators by the short name used in instance types.
N1_ACCELERATORS = {
    "t4": "nvidia-tesla-t4",
    "v100": "nvidia-tesla-v100",
    "p100": "nvidia-tesla-p100",
    "p4": "nvidia-tesla-p4",
}
_N1_TYPE = re.compile(r"^(n1-[a-z0-9-]+)\+([a-z0-9]+?)(?:x([1-8]))?$")

SHARED_NETWORK = "provisioner"
# Each region's subnetwork of the shared network gets its own /20 (subnets of one network may
# not overlap): 10.128.0.0/20 for the first regions GPUs are in, then one per known region, else
# one derived from the region's name.
SUBNET_CIDRS = {
    "us-central1": "10.128.0.0/20",
    "us-east1": "10.142.0.0/20",
    "us-east4": "10.150.0.0/20",
    "us-west1": "10.138.0.0/20",
    "us-west4": "10.182.0.0/20",
    "europe-west4": "10.164.0.0/20",
    "asia-southeast1": "10.148.0.0/20",
}


def subnet_cidr(region: str) -> str:
    """The region's /20 in the shared network (GCP's auto-mode ranges where it has one)."""
    if region in SUBNET_CIDRS:
        return SUBNET_CIDRS[region]
    n = zlib.crc32(region.encode()) % 1024  # 10.64.0.0/12 .. : away from the table's ranges
    return f"10.{64 + n // 16}.{(n % 16) * 16}.0/20"


def instance_tag(spec: InstanceSpec) -> str:
    """The network tag the instance's own SSH rules target (unique in the project)."""
    return resource_name(f"provisioner-{spec.stack_name}")


def parse_instance_type(name: str) -> tuple[str, str | None, int]:
    """(machine type, guest accelerator type or None, accelerator count)."""
    name = name.strip().lower()
    if "+" not in name:
        return name, None, 0
    match = _N1_TYPE.match(name)
    if match is None or match.group(2) not in N1_ACCELERATORS:
        raise ValueError(
            f"GCP instance type {name!r}: expected a machine type or <n1 machine>+<gpu>[xN] "
            f"with gpu one of {', '.join(sorted(N1_ACCELERATORS))}"
        )
    return match.group(1), N1_ACCELERATORS[match.group(2)], int(match.group(3) or 1)


def resource_name(text: str) -> str:
    """A GCP resource name: [a-z]([-a-z0-9]*[a-z0-9])?, at most 63 characters."""
    name = re.sub(r"[^a-z0-9-]", "-", text.lower())
    if not name[:1].isalpha():
        name = "p" + name
    return name[:63].rstrip("-")


def choose_zone(
    spec: InstanceSpec, machine: str, guest_accelerator: str | None, invoke: pulumi.InvokeOptions
) -> str:
    """The zone the VM goes to (see the module docstring for the order)."""
    if spec.zone:
        return spec.zone
    if guest_accelerator is not None and not spec.zones:
        raise ValueError(
            f"{spec.instance_type}: no zones given for {guest_accelerator} in {spec.region} "
            "(pulumi-gcp cannot look up accelerator types; pass the catalog's zones)"
        )
    candidates = list(spec.zones) or sorted(
        compute.get_zones(region=spec.region, status="UP", opts=invoke).names
    )
    for zone in candidates:
        found = compute.get_machine_types(
            filter=f"name = {machine}", zone=zone, opts=invoke
        ).machine_types
        offered = [m for m in found if m.name == machine]
        if not offered:
            continue
        accelerator_optimized = machine.startswith(("a2-", "a3-", "g2-"))
        if guest_accelerator is None and accelerator_optimized and not offered[0].accelerators:
            continue
        return zone
    raise ValueError(
        f"no zone of {spec.region} offers {spec.instance_type} (tried {', '.join(candidates)})"
    )


def _ssh_rules(
    spec: InstanceSpec, name: str, network: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> list[compute.Firewall]:
    """Allow tcp/22 from exactly the given CIDRs (one rule per IP family: GCP cannot mix them)."""
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in spec.allowed_ssh_cidrs]
    rules = []
    for version, suffix in ((4, "ssh"), (6, "ssh-ipv6")):
        ranges = [str(n) for n in networks if n.version == version]
        if ranges:
            rules.append(
                compute.Firewall(
                    f"firewall-{suffix}",
                    name=f"{name}-{suffix}"[:63],
                    network=network,
                    description="SSH from allowed CIDRs",
                    direction="INGRESS",
                    priority=1000,
                    allows=[compute.FirewallAllowArgs(protocol="tcp", ports=["22"])],
                    source_ranges=ranges,
                    target_tags=[instance_tag(spec)],
                    opts=opts,
                )
            )
    return rules


def _metadata(spec: InstanceSpec) -> dict[str, str]:
    metadata = {
        # The deadman: GCE runs the startup script at every boot, which re-arms the timer.
        "startup-script": shutdown_script(spec.hard_deadline),
        "install-nvidia-driver": "True",
        # Keys from this metadata only: no OS Login, no project-wide keys.
        "enable-oslogin": "FALSE",
        "block-project-ssh-keys": "TRUE",
    }
    if spec.ssh_public_key:
        metadata["ssh-keys"] = f"{SSH_USER}:{spec.ssh_public_key.strip()}"
    if spec.setup_script or spec.idle_minutes:
        # cloud-init runs user-data once, at first boot: the deadman again, then the idle guard
        # and the user's setup script (#11), as on AWS and Azure.
        metadata["user-data"] = user_data(spec, SSH_USER).decode()
    return metadata


def scheduling(spec: InstanceSpec) -> compute.InstanceSchedulingArgs:
    """GPUs cannot live-migrate (TERMINATE on host maintenance); Compute Engine deletes the VM at
    the hard deadline; spot VMs are deleted, not stopped, when preempted."""
    deadline = parse_deadline(spec.hard_deadline).strftime("%Y-%m-%dT%H:%M:%SZ")
    return compute.InstanceSchedulingArgs(
        on_host_maintenance="TERMINATE",
        automatic_restart=not spec.spot,
        preemptible=spec.spot,
        provisioning_model="SPOT" if spec.spot else "STANDARD",
        termination_time=deadline,
        instance_termination_action="DELETE",
    )


def _image(spec: InstanceSpec, invoke: pulumi.InvokeOptions) -> str:
    if spec.image:
        return spec.image
    return compute.get_image(
        family=DEFAULT_IMAGE_FAMILY, project=DEFAULT_IMAGE_PROJECT, opts=invoke
    ).self_link


def shared_network(
    spec: InstanceSpec, opts: pulumi.ResourceOptions, invoke: pulumi.InvokeOptions
) -> tuple[pulumi.Input[str], pulumi.Input[str]]:
    """The project's shared network and the region's subnetwork (ids), found by name, else
    declared here and retained on this stack's destroy (see the module docstring)."""
    retained = opts.merge(pulumi.ResourceOptions(retain_on_delete=True))
    network: pulumi.Input[str]
    if SHARED_NETWORK in compute.get_networks(project=spec.project, opts=invoke).networks:
        network = compute.get_network(name=SHARED_NETWORK, project=spec.project, opts=invoke).id
    else:
        made = compute.Network(
            "network",
            name=SHARED_NETWORK,
            description="provisioner: shared by its VMs; no ingress unless a VM's rules allow",
            auto_create_subnetworks=False,
            opts=retained,
        )
        # A new network has no ingress rules (implied deny); this says so where one looks.
        compute.Firewall(
            "firewall-deny-ingress",
            name=f"{SHARED_NETWORK}-deny-ingress",
            network=made.id,
            description="No inbound traffic except what a higher-priority rule allows",
            direction="INGRESS",
            priority=65534,
            denies=[compute.FirewallDenyArgs(protocol="all")],
            source_ranges=["0.0.0.0/0"],
            opts=retained,
        )
        network = made.id
    subnet_name = resource_name(f"{SHARED_NETWORK}-{spec.region}")
    found = compute.get_subnetworks(project=spec.project, region=spec.region, opts=invoke)
    for existing in found.subnetworks:
        if existing.name == subnet_name:
            return network, existing.self_link
    subnet = compute.Subnetwork(
        "subnet",
        name=subnet_name,
        region=spec.region,
        network=network,
        ip_cidr_range=subnet_cidr(spec.region),
        opts=retained,
    )
    return network, subnet.id


def program(spec: InstanceSpec) -> None:
    machine, guest_accelerator, count = parse_instance_type(spec.instance_type)
    provider = pulumi_gcp.Provider("gcp", project=spec.project, region=spec.region)
    opts = pulumi.ResourceOptions(provider=provider)
    invoke = pulumi.InvokeOptions(provider=provider)
    zone = choose_zone(spec, machine, guest_accelerator, invoke)
    image = _image(spec, invoke)
    labels = gcp_labels(dataclasses.replace(spec, tags={}).provisioner_tags(), spec.tags)
    name = resource_name(f"provisioner-{spec.instance_id}")

    network, subnet = shared_network(spec, opts, invoke)
    _ssh_rules(spec, instance_tag(spec), network, opts)

    instance = compute.Instance(
        "instance",
        name=name,
        zone=zone,
        machine_type=machine,
        guest_accelerators=[
            compute.InstanceGuestAcceleratorArgs(type=guest_accelerator, count=count)
        ]
        if guest_accelerator
        else None,
        boot_disk=compute.InstanceBootDiskArgs(
            auto_delete=True,
            initialize_params=compute.InstanceBootDiskInitializeParamsArgs(
                image=image, size=spec.disk_gb, type=BOOT_DISK_TYPE, labels=labels
            ),
        ),
        network_interfaces=[
            compute.InstanceNetworkInterfaceArgs(
                subnetwork=subnet,
                access_configs=[compute.InstanceNetworkInterfaceAccessConfigArgs()],
            )
        ],
        scheduling=scheduling(spec),
        metadata=_metadata(spec),
        # No service account: the VM holds no Google credentials at all.
        service_account=None,
        # vTPM and integrity monitoring; Secure Boot stays off because the NVIDIA kernel
        # modules the image installs are not signed for it.
        shielded_instance_config=compute.InstanceShieldedInstanceConfigArgs(
            enable_secure_boot=False, enable_vtpm=True, enable_integrity_monitoring=True
        ),
        tags=[instance_tag(spec)],
        labels=labels,
        opts=opts,
    )

    interface = instance.network_interfaces[0]
    pulumi.export(
        OUTPUT_PUBLIC_IP,
        interface.access_configs.apply(lambda configs: configs[0].nat_ip if configs else None),
    )
    pulumi.export(OUTPUT_PRIVATE_IP, interface.network_ip)
    pulumi.export(OUTPUT_CLOUD_INSTANCE_ID, instance.id)
    pulumi.export(
        OUTPUT_METADATA,
        {
            "project": instance.project,
            "region": spec.region,
            "zone": zone,
            "machineType": machine,
            "guestAccelerator": guest_accelerator,
            "guestAcceleratorCount": count,
            "image": image,
            "network": SHARED_NETWORK,
            "provisioningModel": "SPOT" if spec.spot else "STANDARD",
            "sshUser": SSH_USER,
            "numericId": instance.instance_id,
        },
    )
