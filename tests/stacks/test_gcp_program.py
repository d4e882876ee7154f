"""The GCP program under FakeCloud: what it declares, checked for money, lifetime and security."""

from __future__ import annotations

import re

import pytest

from stacks.deadman import shutdown_script
from stacks.gcp import SSH_USER, parse_instance_type, resource_name
from stacks.gcp_labels import MAX_LENGTH, gcp_labels, label_key
from stacks.spec import OUTPUT_NAMES

INSTANCE = "gcp:compute/instance:Instance"
NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def ingress_allows(result) -> list[dict]:
    return [
        f.inputs
        for f in result.of_type(FIREWALL)
        if f.inputs.get("direction") == "INGRESS" and f.inputs.get("allows")
    ]


def test_the_first_instance_declares_the_shared_network_through_an_explicit_provider(
    make_gcp_spec, run
):
    result = run(make_gcp_spec(instance_id="inst-net", region="us-east1", zones=()))
    provider = result.one("pulumi:providers:gcp")
    assert provider.inputs["region"] == "us-east1"
    assert provider.inputs["project"] == "tests-project"
    network = result.one(NETWORK)
    assert network.inputs["autoCreateSubnetworks"] is False
    assert network.inputs["name"] == "provisioner"
    subnet = result.one(SUBNET)
    assert subnet.inputs["network"] == network.id
    assert subnet.inputs["region"] == "us-east1"
    assert subnet.inputs["name"] == "provisioner-us-east1"
    instance = result.one(INSTANCE)
    (interface,) = instance.inputs["networkInterfaces"]
    assert interface["subnetwork"] == subnet.id
    assert interface["accessConfigs"] == [{}]  # an ephemeral external IPv4
    assert {r.type for r in result.resources if r.type.startswith("gcp:")} == {
        INSTANCE,
        NETWORK,
        SUBNET,
        FIREWALL,
    }


def test_no_ingress_without_cidrs(make_gcp_spec, run):
    result = run(make_gcp_spec(allowed_ssh_cidrs=()))
    assert ingress_allows(result) == []
    (deny,) = result.of_type(FIREWALL)
    assert deny.inputs["direction"] == "INGRESS"
    assert deny.inputs["denies"] == [{"protocol": "all"}]
    assert deny.inputs["sourceRanges"] == ["0.0.0.0/0"]


def test_only_ssh_from_the_given_cidrs_one_rule_per_family(make_gcp_spec, run):
    spec = make_gcp_spec(allowed_ssh_cidrs=("198.51.100.7", "192.0.2.0/24", "2001:db8::/48"))
    result = run(spec)
    rules = ingress_allows(result)
    assert sorted((r["sourceRanges"], r["allows"]) for r in rules) == sorted(
        [
            (["198.51.100.7/32", "192.0.2.0/24"], [{"protocol": "tcp", "ports": ["22"]}]),
            (["2001:db8::/48"], [{"protocol": "tcp", "ports": ["22"]}]),
        ]
    )
    tags = result.one(INSTANCE).inputs["tags"]
    assert all(r["targetTags"] == tags for r in rules)
    assert all(r["network"] == result.one(NETWORK).id for r in rules)


def test_gpus_terminate_on_host_maintenance(make_gcp_spec, run):
    for instance_type in ("g2-standard-4", "a2-highgpu-1g", "n1-standard-4+t4"):
        spec = make_gcp_spec(instance_type=instance_type, zones=("us-central1-b",))
        scheduling = run(spec).one(INSTANCE).inputs["scheduling"]
        assert scheduling["onHostMaintenance"] == "TERMINATE", instance_type


def test_compute_engine_deletes_the_vm_at_the_hard_deadline(make_gcp_spec, run):
    spec = make_gcp_spec(hard_deadline="2025-06-01T15:45:00Z")
    instance = run(spec).one(INSTANCE)
    scheduling = instance.inputs["scheduling"]
    assert scheduling["terminationTime"] == "2025-06-01T15:45:00Z"
    assert scheduling["instanceTerminationAction"] == "DELETE"
    assert scheduling["provisioningModel"] == "STANDARD"
    # ... and the OS timer too, armed at every boot by the startup script.
    assert instance.inputs["metadata"]["startup-script"] == shutdown_script(spec.hard_deadline)


def test_setup_script_and_idle_guard_go_to_cloud_init_user_data(make_gcp_spec, run):
    from stacks.deadman import user_data

    plain = run(make_gcp_spec()).one(INSTANCE).inputs["metadata"]
    assert "user-data" not in plain
    spec = make_gcp_spec(setup_script="pip install torch\n", idle_minutes=30)
    metadata = run(spec).one(INSTANCE).inputs["metadata"]
    assert metadata["user-data"] == user_data(spec, SSH_USER).decode()
    assert metadata["startup-script"] == shutdown_script(spec.hard_deadline)


def test_a_deadline_with_an_offset_is_given_in_utc(make_gcp_spec, run):
    spec = make_gcp_spec(hard_deadline="2025-06-01T17:45:00+02:00")
    scheduling = run(spec).one(INSTANCE).inputs["scheduling"]
    assert scheduling["terminationTime"] == "2025-06-01T15:45:00Z"


def test_spot_settings_when_asked(make_gcp_spec, run):
    scheduling = run(make_gcp_spec(spot=True)).one(INSTANCE).inputs["scheduling"]
    assert scheduling["provisioningModel"] == "SPOT"
    assert scheduling["preemptible"] is True
    assert scheduling["automaticRestart"] is False
    assert scheduling["instanceTerminationAction"] == "DELETE"
    on_demand = run(make_gcp_spec(spot=False)).one(INSTANCE).inputs["scheduling"]
    assert on_demand["preemptible"] is False
    assert on_demand["provisioningModel"] == "STANDARD"


def test_disk_size_and_type_passed_through(make_gcp_spec, run):
    result = run(make_gcp_spec(disk_gb=321))
    boot = result.one(INSTANCE).inputs["bootDisk"]
    assert boot["autoDelete"] is True
    params = boot["initializeParams"]
    assert params["size"] == 321
    assert params["type"] == "pd-balanced"
    assert params["image"].endswith(
        "/projects/deeplearning-platform-release/global/images/"
        + params["image"].rsplit("/", 1)[-1]
    )
    assert ("gcp:compute/getImage:getImage", "deeplearning-platform-release") in {
        (token, args.get("project")) for token, args in result.invokes
    }


def test_an_image_override_skips_the_lookup(make_gcp_spec, run):
    result = run(make_gcp_spec(image="my-project/my-family"))
    assert result.one(INSTANCE).inputs["bootDisk"]["initializeParams"]["image"] == (
        "my-project/my-family"
    )
    assert "gcp:compute/getImage:getImage" not in {token for token, _ in result.invokes}


def test_accelerator_optimized_types_carry_their_gpus_in_the_machine_type(make_gcp_spec, run):
    instance = run(make_gcp_spec(instance_type="a3-highgpu-8g")).one(INSTANCE)
    assert instance.inputs["machineType"] == "a3-highgpu-8g"
    assert not instance.inputs.get("guestAccelerators")


def test_n1_types_get_guest_accelerators(make_gcp_spec, run):
    spec = make_gcp_spec(
        instance_type="n1-standard-16+t4x2", zones=("us-central1-f", "us-central1-a")
    )
    instance = run(spec).one(INSTANCE)
    assert instance.inputs["machineType"] == "n1-standard-16"
    assert instance.inputs["guestAccelerators"] == [{"type": "nvidia-tesla-t4", "count": 2}]
    assert instance.inputs["zone"] == "us-central1-f"  # the first of the given zones


def test_n1_types_need_the_catalogs_zones(make_gcp_spec, run):
    with pytest.raises(Exception, match="no zones given for nvidia-tesla-t4"):
        run(make_gcp_spec(instance_type="n1-standard-4+t4", zones=()))


def test_zone_order_given_zone_then_the_regions_up_zones_sorted(make_gcp_spec, run):
    assert run(make_gcp_spec(zone="us-central1-c")).one(INSTANCE).inputs["zone"] == (
        "us-central1-c"
    )
    result = run(make_gcp_spec(zones=()))
    assert result.one(INSTANCE).inputs["zone"] == "us-central1-a"
    (zones_call,) = [args for token, args in result.invokes if token.endswith("getZones")]
    assert zones_call["region"] == "us-central1"
    assert zones_call["status"] == "UP"
    machine_calls = [args for token, args in result.invokes if token.endswith("getMachineTypes")]
    assert machine_calls[0] == {"filter": "name = g2-standard-4", "zone": "us-central1-a"}


def test_ssh_keys_metadata_without_os_login_or_project_keys(make_gcp_spec, run):
    spec = make_gcp_spec()
    metadata = run(spec).one(INSTANCE).inputs["metadata"]
    assert metadata["ssh-keys"] == f"{SSH_USER}:{spec.ssh_public_key}"
    assert metadata["enable-oslogin"] == "FALSE"
    assert metadata["block-project-ssh-keys"] == "TRUE"
    no_key = run(make_gcp_spec(ssh_public_key=None)).one(INSTANCE).inputs["metadata"]
    assert "ssh-keys" not in no_key


def test_no_service_account_and_a_shielded_vm(make_gcp_spec, run):
    inputs = run(make_gcp_spec()).one(INSTANCE).inputs
    assert "serviceAccount" not in inputs
    assert inputs["shieldedInstanceConfig"] == {
        "enableSecureBoot": False,
        "enableVtpm": True,
        "enableIntegrityMonitoring": True,
    }


HOSTILE = {
    "Team": "Vision",
    "team": "other",
    "CostCenter/2024": "R&D <ops>",
    "9lives": "x" * 200,
    "ключ": "ЗНАЧЕНИЕ",
    "purpose": "$(rm -rf /)",
    "a" * 128: "b" * 256,
    "a" * 127 + "c": "same prefix",
    "provisioner-instance-id": "spoofed",
    "emoji🚀": "🚀",
}


def test_labels_are_valid_under_gcps_rules_for_hostile_tags(make_gcp_spec, run):
    result = run(make_gcp_spec(tags=HOSTILE, instance_id="inst-abc"))
    instance = result.one(INSTANCE)
    labels = instance.inputs["labels"]
    assert len(labels) <= 64
    for key, value in labels.items():
        assert LABEL.match(key), key
        assert VALUE.match(value), value
    # Every user tag survived as its own label: none overwrote another or ours.
    assert len(labels) == len(HOSTILE) + 6  # ours: name, instance, user, expiry, managed-by, task
    assert labels["provisioner_instance-id"] == "inst-abc"
    assert labels["provisioner-instance-id"] == "spoofed"
    assert labels["team"] in ("vision", "other")
    assert labels["k9lives"].startswith("x" * 56) and len(labels["k9lives"]) == MAX_LENGTH
    assert labels["costcenter_2024"] == "r_d__ops_"
    assert instance.inputs["bootDisk"]["initializeParams"]["labels"] == labels


def test_label_mapping_rules():
    assert label_key("provisioner:user-id") == "provisioner_user-id"
    assert label_key("9lives") == "k9lives"
    long_a, long_b = label_key("a" * 100), label_key("a" * 99 + "b")
    assert len(long_a) == len(long_b) == MAX_LENGTH and long_a != long_b
    labels = gcp_labels({"Name": "provisioner-x"}, {"name": "mine"})
    assert labels["name"] == "provisioner-x"
    assert next(k for k in labels if k != "name").startswith("name-")
    with pytest.raises(ValueError, match="at most 64 labels"):
        gcp_labels({}, {f"k{i}": "v" for i in range(65)})


def test_outputs_and_metadata(make_gcp_spec, run):
    result = run(make_gcp_spec(instance_id="inst-out", zone="us-central1-b"))
    assert set(result.outputs) == set(OUTPUT_NAMES)
    assert result.outputs["publicIp"].startswith("203.0.113.")
    assert result.outputs["privateIp"].startswith("10.128.")
    assert result.outputs["cloudInstanceId"] == (
        "projects/tests-project/zones/us-central1-b/instances/provisioner-inst-out"
    )
    metadata = result.outputs["metadata"]
    assert metadata["project"] == "tests-project"
    assert metadata["zone"] == "us-central1-b"
    assert metadata["machineType"] == "g2-standard-4"
    assert metadata["sshUser"] == SSH_USER
    assert metadata["numericId"].isdigit()


def test_instance_type_names():
    assert parse_instance_type("g2-standard-4") == ("g2-standard-4", None, 0)
    assert parse_instance_type("n1-standard-8+v100") == ("n1-standard-8", "nvidia-tesla-v100", 1)
    assert parse_instance_type("N1-standard-16+T4x2") == ("n1-standard-16", "nvidia-tesla-t4", 2)
    for bad in ("n1-standard-4+k80", "g2-standard-4+t4", "n1-standard-4+t4x9"):
        with pytest.raises(ValueError, match="GCP instance type"):
            parse_instance_type(bad)
    assert resource_name("provisioner-Inst_1") == "provisioner-inst-1"
    assert len(resource_name("x" * 100)) == 63
