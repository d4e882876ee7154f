"""One GPU VM on Azure, in its own resource group: VNet/subnet with an NSG, a static public IP, a
NIC, the VM with a Premium SSD OS disk, and a DevTest Labs auto-shutdown schedule.

Everything goes through an explicit provider for `spec.region`, and every resource that takes
tags carries `spec.provisioner_tags()`. Names are given explicitly (mocks skip auto-naming, and an
operator can find everything of one instance under `provisioner-<instance id>`).
"""

from __future__ import annotations

import base64
import ipaddress
import re

import pulumi
import pulumi_azure_native
import pulumi_azure_native.compute as compute
import pulumi_azure_native.devtestlab as devtestlab
import pulumi_azure_native.network as network
import pulumi_azure_native.resources as resources

from stacks.deadman import deadline_hhmm, user_data
from stacks.spec import (
    OUTPUT_CLOUD_INSTANCE_ID,
    OUTPUT_METADATA,
    OUTPUT_PRIVATE_IP,
    OUTPUT_PUBLIC_IP,
    SSH_USERS,
    VM_CREATE_TIMEOUT_MINUTES,
    InstanceSpec,
)

# The SDK loads submodules lazily, and that load is not thread-safe (see stacks/aws.py): load them
# fully now, under this module's import lock, before programs run in threads.
_LOADED = (
    resources.ResourceGroup,
    network.VirtualNetwork,
    compute.VirtualMachine,
    devtestlab.GlobalSchedule,
)

ADMIN_USERNAME = SSH_USERS["AZURE"]

# Microsoft's Ubuntu-HPC 22.04 image: the NVIDIA driver, CUDA and InfiniBand stack preinstalled
# (the counterpart of AWS's Deep Learning Base AMI), free (no marketplace plan to accept), Gen2,
# which the current NC/ND sizes need. A plain Canonical image would boot without a GPU driver.
DEFAULT_IMAGE_URN = "microsoft-dsvm:ubuntu-hpc:2204:latest"

# An OS halt leaves an Azure VM "Stopped (allocated)", still billing compute; only the platform
# deallocates. So the DevTest Labs schedule (stop + deallocate) fires at the hard deadline and
# the on-VM deadman halts the OS this much later, as a backstop should the schedule not run.
OS_HALT_AFTER_DEALLOCATE_MINUTES = 15

# NvidiaGpuDriverLinux's handler version (minor versions upgrade automatically).
GPU_DRIVER_EXTENSION_VERSION = "1.6"


def _image_reference(urn: str) -> compute.ImageReferenceArgs:
    parts = urn.split(":")
    if len(parts) != 4 or not all(parts):
        raise ValueError(f"Azure image must be a URN publisher:offer:sku:version, got {urn!r}")
    publisher, offer, sku, version = parts
    return compute.ImageReferenceArgs(publisher=publisher, offer=offer, sku=sku, version=version)


def _ssh_rules(cidrs: tuple[str, ...]) -> list[network.SecurityRuleArgs]:
    """Allow tcp/22 from exactly `cidrs`, one rule per IP family (a rule cannot mix them)."""
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]
    rules = []
    for version, name, priority in ((4, "allow-ssh", 1000), (6, "allow-ssh-ipv6", 1001)):
        prefixes = [str(n) for n in networks if n.version == version]
        if prefixes:
            rules.append(
                network.SecurityRuleArgs(
                    name=name,
                    description="SSH from allowed CIDRs",
                    priority=priority,
                    direction="Inbound",
                    access="Allow",
                    protocol="Tcp",
                    source_address_prefixes=prefixes,
                    source_port_range="*",
                    destination_address_prefix="*",
                    destination_port_range="22",
                )
            )
    return rules


def _billing_profile(spec: InstanceSpec) -> compute.BillingProfileArgs | None:
    """Spot VMs are deleted (not deallocated) on eviction so nothing is left billing; max price
    -1 means "up to the on-demand price": evicted for capacity only, never for price."""
    if not spec.spot:
        return None
    return compute.BillingProfileArgs(
        max_price=-1 if spec.spot_max_price is None else spec.spot_max_price
    )


def program(spec: InstanceSpec) -> None:
    if not spec.ssh_public_key:
        raise ValueError(
            "Azure VMs need an SSH public key (password login is disabled): "
            "set ssh_public_key on the spec"
        )
    provider = pulumi_azure_native.Provider("azure-native", location=spec.region)
    opts = pulumi.ResourceOptions(provider=provider)
    tags = spec.provisioner_tags()
    base = f"provisioner-{spec.instance_id}"
    vm_name = base
    location = spec.region

    group = resources.ResourceGroup(
        "resource-group", resource_group_name=base, location=location, tags=tags, opts=opts
    )
    vnet = network.VirtualNetwork(
        "vnet",
        resource_group_name=group.name,
        virtual_network_name=f"{base}-vnet",
        location=location,
        address_space=network.AddressSpaceArgs(address_prefixes=["10.0.0.0/16"]),
        tags=tags,
        opts=opts,
    )
    nsg = network.NetworkSecurityGroup(
        "nsg",
        resource_group_name=group.name,
        network_security_group_name=f"{base}-nsg",
        location=location,
        security_rules=_ssh_rules(spec.allowed_ssh_cidrs),
        tags=tags,
        opts=opts,
    )
    subnet = network.Subnet(
        "subnet",
        resource_group_name=group.name,
        virtual_network_name=vnet.name,
        subnet_name="default",
        address_prefix="10.0.1.0/24",
        network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
        opts=opts,
    )
    public_ip = network.PublicIPAddress(
        "public-ip",
        resource_group_name=group.name,
        public_ip_address_name=f"{base}-ip",
        location=location,
        sku=network.PublicIPAddressSkuArgs(name="Standard"),
        public_ip_allocation_method="Static",
        public_ip_address_version="IPv4",
        tags=tags,
        opts=opts,
    )
    nic = network.NetworkInterface(
        "nic",
        resource_group_name=group.name,
        network_interface_name=f"{base}-nic",
        location=location,
        ip_configurations=[
            network.NetworkInterfaceIPConfigurationArgs(
                name="ipconfig1",
                primary=True,
                private_ip_allocation_method="Dynamic",
                subnet=network.SubnetArgs(id=subnet.id),
                public_ip_address=network.PublicIPAddressArgs(id=public_ip.id),
            )
        ],
        tags=tags,
        opts=opts,
    )
    vm = compute.VirtualMachine(
        "vm",
        resource_group_name=group.name,
        vm_name=vm_name,
        location=location,
        hardware_profile=compute.HardwareProfileArgs(vm_size=spec.instance_type),
        storage_profile=compute.StorageProfileArgs(
            image_reference=_image_reference(spec.image or DEFAULT_IMAGE_URN),
            os_disk=compute.OSDiskArgs(
                create_option="FromImage",
                delete_option="Delete",
                disk_size_gb=spec.disk_gb,
                # Premium SSD: what the cost model bills for the disk.
                managed_disk=compute.ManagedDiskParametersArgs(storage_account_type="Premium_LRS"),
            ),
        ),
        os_profile=compute.OSProfileArgs(
            computer_name=re.sub(r"[^A-Za-z0-9-]", "-", vm_name)[:63],
            admin_username=ADMIN_USERNAME,
            custom_data=base64.b64encode(
                user_data(spec, ADMIN_USERNAME, halt_after_minutes=OS_HALT_AFTER_DEALLOCATE_MINUTES)
            ).decode(),
            linux_configuration=compute.LinuxConfigurationArgs(
                disable_password_authentication=True,
                ssh=compute.SshConfigurationArgs(
                    public_keys=[
                        compute.SshPublicKeyArgs(
                            key_data=spec.ssh_public_key,
                            path=f"/home/{ADMIN_USERNAME}/.ssh/authorized_keys",
                        )
                    ]
                ),
            ),
        ),
        network_profile=compute.NetworkProfileArgs(
            network_interfaces=[
                compute.NetworkInterfaceReferenceArgs(
                    id=nic.id, primary=True, delete_option="Delete"
                )
            ]
        ),
        zones=[spec.zone] if spec.zone else None,
        priority="Spot" if spec.spot else None,
        eviction_policy="Delete" if spec.spot else None,
        billing_profile=_billing_profile(spec),
        tags=tags,
        opts=opts.merge(
            pulumi.ResourceOptions(
                custom_timeouts=pulumi.CustomTimeouts(create=f"{VM_CREATE_TIMEOUT_MINUTES}m")
            )
        ),
    )
    if spec.gpu_driver_extension:
        # The NVIDIA driver the image lacks: Microsoft's extension picks the GRID driver for
        # NVadsA10 v5 (a vGPU, which the data-center driver does not drive).
        compute.VirtualMachineExtension(
            "gpu-driver",
            resource_group_name=group.name,
            vm_name=vm.name,
            vm_extension_name=spec.gpu_driver_extension,
            location=location,
            publisher="Microsoft.HpcCompute",
            type=spec.gpu_driver_extension,
            type_handler_version=GPU_DRIVER_EXTENSION_VERSION,
            auto_upgrade_minor_version=True,
            tags=tags,
            opts=opts,
        )
    # Azure's auto-shutdown stops *and deallocates* the VM at the hard deadline (an OS shutdown,
    # the deadman's, only stops it, and a stopped VM still bills compute). It recurs daily, which
    # is fine: the hard lifetime is bounded well under a day (Settings.hard_lifetime_minutes), so
    # its first run is the deadline itself. Disk and static IP bill until destroy.
    devtestlab.GlobalSchedule(
        "auto-shutdown",
        resource_group_name=group.name,
        name=f"shutdown-computevm-{vm_name}",
        location=location,
        task_type="ComputeVmShutdownTask",
        daily_recurrence=devtestlab.DayDetailsArgs(time=deadline_hhmm(spec.hard_deadline)),
        time_zone_id="UTC",
        status="Enabled",
        target_resource_id=vm.id,
        tags=tags,
        opts=opts,
    )

    pulumi.export(OUTPUT_PUBLIC_IP, public_ip.ip_address)
    pulumi.export(
        OUTPUT_PRIVATE_IP,
        nic.ip_configurations.apply(
            lambda configs: configs[0].private_ip_address if configs else None
        ),
    )
    pulumi.export(OUTPUT_CLOUD_INSTANCE_ID, vm.id)
    pulumi.export(
        OUTPUT_METADATA,
        {
            "resourceGroup": group.name,
            "location": location,
            "vmSize": spec.instance_type,
            "zone": spec.zone,
            "spot": spec.spot,
        },
    )
