"""`provisioner token ...` and `provisioner serve` as a user drives them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
from apiclient import SEED_AWS_BODY, free_port
from serving import die_with_the_tests
from typer.testing import CliRunner

from provisioner.cli.main import app

runner = CliRunner()


def test_token_create_prints_the_token_once_and_list_never_shows_it(home):
    created = runner.invoke(app, ["token", "create", "--user", "user-123", "--name", "medical"])

    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("prov_") and "\n" not in token
    listed = runner.invoke(app, ["token", "list", "--json"])
    rows = json.loads(listed.stdout)["tokens"]
    assert [(r["userId"], r["name"], r["admin"]) for r in rows] == [("user-123", "medical", False)]
    assert token not in listed.stdout
    assert token not in runner.invoke(app, ["token", "list"]).stdout


def test_token_revoke_and_bad_input_exit_codes(home):
    runner.invoke(app, ["token", "create", "--user", "user-123", "--admin"])
    token_id = json.loads(runner.invoke(app, ["token", "list", "--json"]).stdout)["tokens"][0]["id"]

    revoked = runner.invoke(app, ["token", "revoke", token_id, "--json"])
    missing = runner.invoke(app, ["token", "revoke", "tok-nope"])
    bad_user = runner.invoke(app, ["token", "create", "--user", "no spaces"])

    assert revoked.exit_code == 0
    assert json.loads(revoked.stdout)["tokenInfo"]["revokedAt"] is not None
    assert json.loads(revoked.stdout)["tokenInfo"]["admin"] is True
    assert missing.exit_code == 2 and "not found" in missing.output
    assert bad_user.exit_code == 2 and "User id" in bad_user.output


def test_serve_answers_a_token_made_by_the_cli(home):
    token = runner.invoke(app, ["token", "create", "--user", "user-123"]).stdout.strip()
    port = free_port()
    env = {**os.environ, "PROVISIONER_HOME": str(home), "PROVISIONER_ENGINE": "simulated"}
    server = subprocess.Popen(
        [sys.executable, "-m", "provisioner.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_the_tests,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{base}/api/instances?wait=true", json=SEED_AWS_BODY, headers=headers, timeout=60
        )
        anonymous = httpx.get(f"{base}/api/instances")
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)

    assert health.json()["engine"] == "simulated"
    assert created.status_code == 201
    assert created.json()["instance"]["status"] == "READY"
    assert anonymous.status_code == 401
    assert "SIMULATION" in err
