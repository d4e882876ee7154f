"""`serve --simulate`: a non-admin token cannot run code as the server's user (#26). A simulated
VM's setup script runs on the server's host, and a key in its authorized_keys opens a shell there,
so both are admin-only unless the operator sets PROVISIONER_SIM_ALLOW_USER_CODE=1."""

from __future__ import annotations

import copy
from typing import Any

from apiclient import SEED_AWS_BODY, Api
from factories import ED25519_KEY


def aws_body(**config: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED_AWS_BODY)
    body["config"].update(config)
    return body


def test_a_non_admin_token_can_neither_send_a_setup_script_nor_its_own_key(api: Api):
    home = api.service.settings.home
    read_keys = aws_body(setupScript=f"cat {home}/keys/* > /tmp/stolen\n")
    own_key = aws_body(sshPublicKey=ED25519_KEY, allowedSshCidrs=["127.0.0.1/32"])

    script = api.client.post("/api/instances?wait=true", json=read_keys, headers=api.user)
    key = api.client.post("/api/instances?wait=true", json=own_key, headers=api.user)

    assert script.status_code == 403, script.text
    assert script.json()["error"]["message"].startswith("setupScript: ")
    assert "PROVISIONER_SIM_ALLOW_USER_CODE" in script.json()["error"]["message"]
    assert key.status_code == 403, key.text
    assert key.json()["error"]["message"].startswith("sshPublicKey: ")
    listed = api.client.get("/api/instances", headers=api.admin).json()["instances"]
    assert listed == []  # nothing half-created
    assert not (home / "simulated-vms").exists() or not any((home / "simulated-vms").iterdir())


def test_a_body_that_is_not_valid_stays_a_400_for_a_non_admin(api: Api):
    bad = aws_body(sshPublicKey="not a key")
    response = api.client.post("/api/instances", json=bad, headers=api.user)
    assert response.status_code == 400, response.text


def test_the_operator_may_allow_user_code(make_api):
    api = make_api(sim_allow_user_code=True)
    own_key = aws_body(sshPublicKey=ED25519_KEY, allowedSshCidrs=["198.51.100.7/32"])
    response = api.client.post("/api/instances?wait=true", json=own_key, headers=api.user)
    assert response.status_code == 201, response.text
