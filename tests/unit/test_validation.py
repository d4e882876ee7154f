"""Every input rule refuses with one line naming the field and the rule (DESIGN.md)."""

import pytest
from factories import ED25519_KEY, azure_request, make_request

from provisioner.config import Settings
from provisioner.rules.catalog import load_catalog
from provisioner.rules.errors import ValidationError
from provisioner.rules.validation import validate_request


@pytest.fixture
def check(tmp_path):
    settings = Settings(home=tmp_path, engine="simulated")

    def run(request):
        return validate_request(request, settings, load_catalog())

    return run


def refusal(check, request) -> ValidationError:
    with pytest.raises(ValidationError) as err:
        check(request)
    assert "\n" not in err.value.message
    return err.value


@pytest.mark.parametrize(
    ("overrides", "field", "starts"),
    [
        ({"disk_size_gb": 10}, "config.diskSizeGB", "Disk size must be between 30 and 4096 GB"),
        ({"disk_size_gb": 4097}, "config.diskSizeGB", "Disk size"),
        (
            {"auto_terminate_minutes": 2},
            "config.autoTerminateMinutes",
            "Auto-terminate must be between 5 and 120 minutes",
        ),
        ({"auto_terminate_minutes": 121}, "config.autoTerminateMinutes", "Auto-terminate"),
        ({"provider": "OCI"}, "config.provider", "Provider must be AWS, AZURE or GCP"),
        (
            {"instance_type": "Standard_NC6"},
            "config.instanceType",
            "Instance type Standard_NC6 is an AZURE type",
        ),
        ({"instance_type": "x1.nope"}, "config.instanceType", "Instance type 'x1.nope'"),
        ({"region": "mars-north-1"}, "config.region", "Region 'mars-north-1' is not offered"),
        ({"user_id": ""}, "userId", "User id must be 1-64 characters"),
        ({"user_id": "a" * 65}, "userId", "User id"),
        ({"user_id": "bob smith"}, "userId", "User id"),
        ({"task_id": "t;rm -rf /"}, "taskId", "Task id must be"),
        ({"purpose": "x" * 257}, "purpose", "Purpose must be text of at most 256"),
        ({"purpose": "line one\nline two"}, "purpose", "Purpose must be one line"),
        ({"ssh_public_key": "not a key"}, "sshPublicKey", "SSH key must be one OpenSSH"),
        (
            {"ssh_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc"},
            "sshPublicKey",
            "SSH key must be a public key",
        ),
        (
            {"ssh_public_key": "ssh-rsa " + ED25519_KEY.split()[1]},
            "sshPublicKey",
            "SSH key data does not match its type ssh-rsa",
        ),
        ({"ssh_public_key": "ssh-ed25519 !!!notbase64"}, "sshPublicKey", "SSH key must have valid"),
        ({"allowed_ssh_cidrs": ("10.0.0.0/33",)}, "allowedSshCidrs", "Allowed SSH CIDR"),
        ({"allowed_ssh_cidrs": ("everyone",)}, "allowedSshCidrs", "Allowed SSH CIDR 'everyone'"),
    ],
)
def test_each_rule_names_its_field(check, overrides, field, starts):
    err = refusal(check, make_request(**overrides))
    assert err.field == field
    assert err.message.startswith(starts), err.message


def test_an_aws_type_on_azure_is_refused(check):
    err = refusal(check, azure_request(instance_type="g4dn.xlarge"))
    assert err.message.startswith("Instance type g4dn.xlarge is an AWS type, not offered on AZURE")


@pytest.mark.parametrize(
    ("tags", "starts"),
    [
        ({f"k{i}": "v" for i in range(41)}, "Tags: at most 40 allowed (got 41)"),
        ({"": "v"}, "Tag key must be 1-128 characters"),
        ({"k" * 129: "v"}, "Tag key must be 1-128"),
        ({"aws:createdBy": "me"}, "Tag key 'aws:createdBy' uses a reserved prefix"),
        ({"Provisioner:instance-id": "x"}, "Tag key 'Provisioner:instance-id' uses a reserved"),
        ({"cost/center": "x"}, "Tag key 'cost/center' must not contain any of"),
        ({"a<b": "x"}, "Tag key 'a<b' must not contain"),
        ({"team": "v" * 257}, "Tag value for 'team' must be a string of at most 256"),
    ],
)
def test_tag_rules(check, tags, starts):
    err = refusal(check, make_request(tags=tags))
    assert err.field == "config.tags"
    assert err.message.startswith(starts), err.message


def test_valid_request_is_normalised(check):
    valid = check(
        make_request(
            provider="aws",
            region=None,
            disk_size_gb=None,
            auto_terminate_minutes=None,
            ssh_public_key=ED25519_KEY + "\n",
            allowed_ssh_cidrs=("203.0.113.7/32", "2001:db8::/32", "203.0.113.7/32"),
            tags={f"k{i}": "v" for i in range(40)},
        )
    )
    assert valid.provider == "AWS"
    assert valid.region == "us-east-1"
    assert valid.disk_size_gb == 100 and valid.auto_terminate_minutes == 60
    assert valid.ssh_public_key == ED25519_KEY
    assert valid.ssh_key_fingerprint.startswith("SHA256:")
    assert valid.allowed_ssh_cidrs == ("203.0.113.7/32", "2001:db8::/32")
    assert valid.type.price_per_hour == load_catalog().get("AWS", "g4dn.xlarge").price_per_hour


def test_ttl_bounds_follow_settings(tmp_path):
    settings = Settings(
        home=tmp_path, min_ttl_minutes=10, max_ttl_minutes=200, default_ttl_minutes=60
    )
    with pytest.raises(ValidationError, match="between 10 and 200 minutes"):
        validate_request(make_request(auto_terminate_minutes=5), settings, load_catalog())
    assert (
        validate_request(
            make_request(auto_terminate_minutes=200), settings, load_catalog()
        ).auto_terminate_minutes
        == 200
    )
