"""The Azure program under FakeCloud: what it declares, checked for money and security."""

from __future__ import annotations

import base64
import importlib
import inspect
import ipaddress
import re
import uuid
from datetime import UTC, datetime

import pytest

from stacks.deadman import shutdown_script
from stacks.spec import OUTPUT_NAMES

RG = "azure-native:resources:ResourceGroup"
VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
PIP = "azure-native:network:PublicIPAddress"
NIC = "azure-native:network:NetworkInterface"
VM = "azure-native:compute:VirtualMachine"
SCHEDULE = "azure-native:devtestlab:GlobalSchedule"
VM_ID = re.compile(
    r"/subscriptions/0{8}-0{4}-0{4}-0{4}-0{12}/resourceGroups/provisioner-[\w.-]+"
    r"/providers/Microsoft\.Compute/virtualMachines/[\w.-]+"
)


def takes_tags(type_token: str) -> bool:
    """Whether the SDK's resource class for `type_token` has a `tags` argument."""
    _, module, name = type_token.split(":")
    cls = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), name)
    return "tags" in inspect.signature(cls._internal_init).parameters


def test_one_resource_group_per_stack_holding_everything(make_azure_spec, run):
    result = run(make_azure_spec(instance_id="inst-rg", region="westeurope"))
    group = result.one(RG)
    assert group.inputs["resourceGroupName"] == "provisioner-inst-rg"
    assert group.inputs["location"] == "westeurope"
    others = [r for r in result.resources if r.type.startswith("azure-native:") and r.type != RG]
    assert {r.type for r in others} == {VNET, SUBNET, NSG, PIP, NIC, VM, SCHEDULE}
    assert all(r.inputs["resourceGroupName"] == "provisioner-inst-rg" for r in others)
    assert result.one("pulumi:providers:azure-native").inputs["location"] == "westeurope"


def test_network_layout(make_azure_spec, run):
    result = run(make_azure_spec())
    assert result.one(VNET).inputs["addressSpace"] == {"addressPrefixes": ["10.0.0.0/16"]}
    subnet = result.one(SUBNET)
    assert subnet.inputs["addressPrefix"] == "10.0.1.0/24"
    assert subnet.inputs["networkSecurityGroup"] == {"id": result.one(NSG).id}
    (config,) = result.one(NIC).inputs["ipConfigurations"]
    assert config["subnet"]["id"] == subnet.id
    assert config["publicIPAddress"] == {"id": result.one(PIP).id}


def test_no_inbound_rules_by_default(make_azure_spec, run):
    assert run(make_azure_spec()).one(NSG).inputs["securityRules"] == []


def test_only_ssh_from_the_given_cidrs(make_azure_spec, run):
    spec = make_azure_spec(allowed_ssh_cidrs=("198.51.100.7", "192.0.2.0/24", "2001:db8::/48"))
    rules = run(spec).one(NSG).inputs["securityRules"]
    common = {
        "description": "SSH from allowed CIDRs",
        "direction": "Inbound",
        "access": "Allow",
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationAddressPrefix": "*",
        "destinationPortRange": "22",
    }
    assert rules == [
        {
            **common,
            "name": "allow-ssh",
            "priority": 1000,
            "sourceAddressPrefixes": ["198.51.100.7/32", "192.0.2.0/24"],
        },
        {
            **common,
            "name": "allow-ssh-ipv6",
            "priority": 1001,
            "sourceAddressPrefixes": ["2001:db8::/48"],
        },
    ]


def test_password_login_disabled_and_the_key_installed(make_azure_spec, run):
    spec = make_azure_spec()
    os_profile = run(spec).one(VM).inputs["osProfile"]
    assert "adminPassword" not in os_profile
    assert os_profile["adminUsername"] == "azureuser"
    assert os_profile["linuxConfiguration"] == {
        "disablePasswordAuthentication": True,
        "ssh": {
            "publicKeys": [
                {"keyData": spec.ssh_public_key, "path": "/home/azureuser/.ssh/authorized_keys"}
            ]
        },
    }


def test_missing_ssh_key_is_a_clear_error(make_azure_spec, run):
    with pytest.raises(ValueError, match="need an SSH public key"):
        run(make_azure_spec(ssh_public_key=None))


def test_os_disk_is_premium_of_the_asked_size_and_deleted_with_the_vm(make_azure_spec, run):
    storage = run(make_azure_spec(disk_gb=256)).one(VM).inputs["storageProfile"]
    assert storage["osDisk"] == {
        "createOption": "FromImage",
        "deleteOption": "Delete",
        "diskSizeGB": 256,
        "managedDisk": {"storageAccountType": "Premium_LRS"},
    }


def test_nic_is_deleted_with_the_vm(make_azure_spec, run):
    result = run(make_azure_spec())
    profile = result.one(VM).inputs["networkProfile"]
    assert profile == {
        "networkInterfaces": [{"id": result.one(NIC).id, "primary": True, "deleteOption": "Delete"}]
    }


def test_public_ip_is_standard_and_static(make_azure_spec, run):
    inputs = run(make_azure_spec()).one(PIP).inputs
    assert inputs["sku"] == {"name": "Standard"}
    assert inputs["publicIPAllocationMethod"] == "Static"


def test_vm_size_is_passed(make_azure_spec, run):
    vm = run(make_azure_spec(instance_type="Standard_NC24ads_A100_v4")).one(VM)
    assert vm.inputs["hardwareProfile"] == {"vmSize": "Standard_NC24ads_A100_v4"}


def test_default_image_is_the_gpu_ready_ubuntu_hpc(make_azure_spec, run):
    image = run(make_azure_spec()).one(VM).inputs["storageProfile"]["imageReference"]
    assert image == {
        "publisher": "microsoft-dsvm",
        "offer": "ubuntu-hpc",
        "sku": "2204",
        "version": "latest",
    }


def test_image_override_urn(make_azure_spec, run):
    spec = make_azure_spec(image="Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.1")
    image = run(spec).one(VM).inputs["storageProfile"]["imageReference"]
    assert image == {
        "publisher": "Canonical",
        "offer": "0001-com-ubuntu-server-jammy",
        "sku": "22_04-lts-gen2",
        "version": "22.04.1",
    }


@pytest.mark.parametrize("urn", ["ami-0123456789abcdef0", "a:b:c", "a::c:d", "a:b:c:d:e"])
def test_malformed_image_urn_is_refused(make_azure_spec, run, urn):
    with pytest.raises(ValueError, match="publisher:offer:sku:version"):
        run(make_azure_spec(image=urn))


def test_custom_data_is_the_deadman_and_nothing_user_controlled(make_azure_spec, run):
    spec = make_azure_spec(
        hard_deadline="2025-06-01T15:45:00Z", tags={"purpose": "$(rm -rf /)"}, user_id="alice"
    )
    encoded = run(spec).one(VM).inputs["osProfile"]["customData"]
    script = base64.b64decode(encoded).decode()
    assert script == shutdown_script("2025-06-01T15:45:00Z", halt_after_minutes=15)
    assert "rm -rf" not in script
    assert "alice" not in script


def test_auto_shutdown_schedule_deallocates_at_the_hard_deadline(make_azure_spec, run):
    result = run(make_azure_spec(instance_id="inst-s", hard_deadline="2025-06-01T15:45:00Z"))
    vm = result.one(VM)
    assert vm.inputs["vmName"] == "provisioner-inst-s"
    schedule = result.one(SCHEDULE).inputs
    assert schedule["name"] == "shutdown-computevm-provisioner-inst-s"
    assert schedule["taskType"] == "ComputeVmShutdownTask"
    assert schedule["timeZoneId"] == "UTC"
    assert schedule["dailyRecurrence"] == {"time": "1545"}
    assert schedule["status"] == "Enabled"
    assert schedule["targetResourceId"] == vm.id
    assert schedule["location"] == vm.inputs["location"]


def test_schedule_time_is_converted_to_utc(make_azure_spec, run):
    result = run(make_azure_spec(hard_deadline="2025-06-01T01:05:00+02:00"))
    assert result.one(SCHEDULE).inputs["dailyRecurrence"] == {"time": "2305"}


def test_tags_on_every_resource_that_takes_tags(make_azure_spec, run):
    spec = make_azure_spec()
    result = run(spec)
    taggable = [r for r in result.resources if r.type.startswith("azure-native:")]
    assert {r.type for r in taggable if takes_tags(r.type)} == {
        RG,
        VNET,
        NSG,
        PIP,
        NIC,
        VM,
        SCHEDULE,
    }
    for resource in taggable:
        if takes_tags(resource.type):
            assert resource.inputs["tags"] == spec.provisioner_tags(), resource.type


def test_outputs(make_azure_spec, run):
    spec = make_azure_spec(instance_id="inst-o", region="northeurope")
    result = run(spec)
    outputs = result.outputs
    assert set(outputs) == set(OUTPUT_NAMES)
    assert ipaddress.ip_address(outputs["publicIp"]) in ipaddress.ip_network("203.0.113.0/24")
    assert ipaddress.ip_address(outputs["privateIp"]) in ipaddress.ip_network("10.0.1.0/24")
    vm = result.one(VM)
    assert outputs["cloudInstanceId"] == vm.id
    assert VM_ID.fullmatch(vm.id)
    uuid.UUID(vm.state["vmId"])
    assert outputs["metadata"] == {
        "resourceGroup": "provisioner-inst-o",
        "location": "northeurope",
        "vmSize": spec.instance_type,
        "spot": False,
    }


def test_the_deallocating_schedule_fires_before_the_os_halt(make_azure_spec, run):
    """An OS halt leaves an Azure VM "Stopped (allocated)", billing; the platform schedule
    (stop + deallocate) must come first, at the deadline, and the deadman's halt after it."""
    result = run(make_azure_spec(hard_deadline="2025-06-01T15:45:00Z"))
    schedule = result.one(SCHEDULE).inputs["dailyRecurrence"]["time"]
    script = base64.b64decode(result.one(VM).inputs["osProfile"]["customData"]).decode()
    halt_epoch = int(script.split("deadline=", 1)[1].split("\n", 1)[0])
    halt = datetime.fromtimestamp(halt_epoch, UTC)
    deallocate = datetime(2025, 6, 1, int(schedule[:2]), int(schedule[2:]), tzinfo=UTC)
    assert deallocate == datetime(2025, 6, 1, 15, 45, tzinfo=UTC)
    assert halt > deallocate


def test_a10_gets_the_grid_driver_extension_and_t4_does_not(make_azure_spec, run):
    a10 = run(
        make_azure_spec(
            instance_type="Standard_NV36ads_A10_v5",
            image="Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest",
            gpu_driver_extension="NvidiaGpuDriverLinux",
        )
    )
    extension = a10.one("azure-native:compute:VirtualMachineExtension").inputs
    assert extension["publisher"] == "Microsoft.HpcCompute"
    assert extension["type"] == "NvidiaGpuDriverLinux"
    assert a10.one(VM).inputs["storageProfile"]["imageReference"]["publisher"] == "Canonical"
    t4 = run(make_azure_spec())
    assert t4.of_type("azure-native:compute:VirtualMachineExtension") == []
