"""Point 11 of #26, the input rules: `instanceType` with `instanceTypes` must agree, an SSH key's
comment is printable ASCII, webhook URLs are http(s) to a host that is not link-local, and the
data dir is made 0700 when the service starts."""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from apiclient import SEED_AWS_BODY, Api
from factories import ED25519_KEY, make_request
from pydantic import ValidationError as SettingsError

from provisioner.config import Settings
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import ValidationError
from provisioner.rules.validation import validate_ssh_key


def body(**config: Any) -> dict[str, Any]:
    request = copy.deepcopy(SEED_AWS_BODY)
    request["config"].update(config)
    return request


@pytest.mark.parametrize("listed", ["no-such-type", "g5.xlarge"])
def test_a_one_entry_instance_types_that_disagrees_with_instance_type_is_a_400(
    api: Api, listed: str
):
    """A real type that is not the named one too: neither of the two may silently win."""
    response = api.client.post(
        "/api/instances", json=body(instanceTypes=[listed]), headers=api.user
    )

    assert response.status_code == 400, response.text
    assert "instanceTypes" in response.json()["error"]["message"]
    assert listed in response.json()["error"]["message"]
    assert api.client.get("/api/instances", headers=api.user).json()["instances"] == []


def test_an_instance_type_among_instance_types_is_accepted(api: Api):
    response = api.client.post(
        "/api/instances", json=body(instanceTypes=["g4dn.xlarge"]), headers=api.user
    )

    assert response.status_code == 202, response.text


def test_a_one_entry_instance_types_alone_is_the_type_asked_for(service):
    instance = service.provision(make_request(instance_type="", instance_types=("g5.xlarge",)))

    assert instance.instance_type == "g5.xlarge"


@pytest.mark.parametrize("bad", ["\x00", "\x1b[31m", "\r", "\x7f", "é"])
def test_a_key_comment_with_a_control_or_non_ascii_character_is_refused(bad: str):
    key = ED25519_KEY.replace("alice@laptop", f"alice{bad}x@laptop")

    with pytest.raises(ValidationError) as caught:
        validate_ssh_key(key)

    assert caught.value.field == "sshPublicKey"
    assert "printable ASCII" in caught.value.message
    assert validate_ssh_key(ED25519_KEY)[0] == ED25519_KEY


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://example.com:70/x",
        "ftp://example.com/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "https://",
    ],
)
def test_a_webhook_url_that_is_not_http_s_to_a_plain_host_is_refused(url: str, tmp_path: Path):
    with pytest.raises(SettingsError) as caught:
        Settings(home=tmp_path, webhook_urls=f"https://hooks.example.com/a,{url}")

    assert "PROVISIONER_WEBHOOK_URLS" in str(caught.value)


def test_http_and_https_webhooks_are_accepted(tmp_path: Path):
    urls = "https://hooks.example.com/a, http://127.0.0.1:9000/b"

    assert Settings(home=tmp_path, webhook_urls=urls).webhook_url_list == [
        "https://hooks.example.com/a",
        "http://127.0.0.1:9000/b",
    ]


def test_an_existing_0755_data_dir_is_tightened_to_0700_on_start(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o755)

    service = Provisioner(Settings(home=home, engine="simulated"))
    service.ledger.dispose()

    assert stat.S_IMODE(home.stat().st_mode) == 0o700
