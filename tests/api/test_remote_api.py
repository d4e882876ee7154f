"""#11 through the API: sshPublicKey, allowedSshCidrs, setupScript and idleMinutes in; sshUser,
sshCommand, allowedSshCidrs and the fingerprint out; never a private key."""

from __future__ import annotations

import copy
from typing import Any

from apiclient import SEED_AWS_BODY, SEED_AZURE_BODY, Api
from factories import ED25519_KEY
from remote.conftest import needs_sshd
from unit.test_validation_remote import ECDSA, RSA_1024

from provisioner.remote import keys


def aws_body(**config: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED_AWS_BODY)
    body["config"].update(config)
    return body


@needs_sshd
def test_post_with_cidrs_setup_and_idle_gives_a_usable_instance(api: Api):
    body = aws_body(allowedSshCidrs=["127.0.0.1/32"], setupScript="echo set up\n", idleMinutes=30)
    # an admin token: under the simulated engine user code is admin-only (#26, test_sim_user_code)
    response = api.client.post("/api/instances?wait=true", json=body, headers=api.admin)
    assert response.status_code == 201, response.text
    instance = response.json()["instance"]
    assert instance["status"] == "READY"
    assert instance["sshUser"] == "ubuntu"
    assert instance["allowedSshCidrs"] == ["127.0.0.1/32"]
    assert instance["sshKeyFingerprint"].startswith("SHA256:")
    assert instance["sshCommand"].endswith("# simulated VM: its local SSH endpoint")
    # The server made the key pair; only the server's CLI holds the private half.
    home = api.service.settings.home
    private = keys.key_path(home, instance["id"]).read_text()
    assert "PRIVATE KEY" not in response.text
    assert "".join(private.splitlines()[1:-1])[:60] not in response.text
    stored = api.service.ledger.require(instance["id"])
    assert (stored.setup_script, stored.idle_minutes) == ("echo set up\n", 30)


def test_azure_with_the_users_key_reports_azureuser(api: Api):
    body = copy.deepcopy(SEED_AZURE_BODY)
    body["config"]["sshPublicKey"] = ED25519_KEY
    response = api.client.post("/api/instances?wait=true", json=body, headers=api.admin)
    assert response.status_code == 201, response.text
    instance = response.json()["instance"]
    assert instance["sshUser"] == "azureuser"
    assert not keys.has_private_key(api.service.settings.home, instance["id"])


def test_bad_keys_setup_scripts_and_idle_minutes_are_400_naming_the_field(api: Api):
    cases = [
        (aws_body(sshPublicKey=ECDSA), "sshPublicKey", "is not accepted"),
        (aws_body(sshPublicKey=RSA_1024), "sshPublicKey", "at least 2048 bits"),
        (aws_body(setupScript="x" * 16385), "config.setupScript", "at most 16384 bytes"),
        (aws_body(setupScript="echo \x1b"), "config.setupScript", "control characters"),
        (aws_body(idleMinutes=2), "config.idleMinutes", "between 5 and 240"),
        (aws_body(idleMinutes="10"), "config.idleMinutes", "must be an integer"),
    ]
    for body, field, words in cases:
        response = api.client.post("/api/instances", json=body, headers=api.user)
        assert response.status_code == 400, (field, response.text)
        error = response.json()["error"]
        assert error["field"] == field and words in error["message"], error
    assert api.service.list() == []  # nothing recorded
    assert not (api.service.settings.home / "keys").exists()
