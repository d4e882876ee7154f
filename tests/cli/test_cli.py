"""The CLI as a user drives it: CliRunner over the real app, simulated engine, real SQLite."""

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from factories import ED25519_KEY
from typer.testing import CliRunner

from provisioner.cli.main import app

runner = CliRunner()
SEED_AWS = [
    "up",
    "--simulate",
    "--provider",
    "aws",
    "--instance-type",
    "g4dn.xlarge",
    "--region",
    "us-east-1",
    "--disk-gb",
    "50",
    "--ttl",
    "30",
    "--task",
    "batch-789",
    "--user",
    "user-123",
]
SEED_AZURE = [
    "up",
    "--simulate",
    "--provider",
    "azure",
    "--instance-type",
    "Standard_NC6",
    "--region",
    "eastus",
    "--disk-gb",
    "100",
    "--ttl",
    "60",
    "--task",
    "task-456",
    "--user",
    "user-123",
    "--tag",
    "environment=production",
    "--tag",
    "project=medical-analysis",
    "--purpose",
    "Medical Document Analysis",
]
SEED_INSTANCE_FIELDS = {
    "id",
    "userId",
    "taskId",
    "provider",
    "instanceType",
    "region",
    "status",
    "publicIp",
    "privateIp",
    "cloudInstanceId",
    "diskSizeGB",
    "autoTerminateMinutes",
    "expiresAt",
    "costPerHour",
    "totalCost",
    "purpose",
    "tags",
    "metadata",
    "engine",
    "createdAt",
    "readyAt",
    "terminatedAt",
    "updatedAt",
    "error",
}


def run(*args: str) -> tuple[int, dict | None, str]:
    result = runner.invoke(app, list(args))
    payload = None
    if "--json" in args and result.stdout.strip():
        payload = json.loads(result.stdout)
    return result.exit_code, payload, result.stdout + result.stderr


def test_seed_aws_example_round_trips_through_up_list_show_stats_down(home):
    code, body, _ = run(*SEED_AWS, "--json")
    assert code == 0
    instance = body["instance"]
    assert set(instance) >= SEED_INSTANCE_FIELDS
    assert instance["status"] == "READY"
    assert instance["costPerHour"] == 0.526
    assert instance["engine"] == "simulated"
    assert ipaddress.ip_address(instance["publicIp"]) in ipaddress.ip_network("203.0.113.0/24")
    assert instance["createdAt"].endswith("Z")

    code, listed, _ = run("list", "--user", "user-123", "--json")
    assert code == 0 and listed["count"] == 1
    assert listed["instances"][0]["id"] == instance["id"]

    code, shown, _ = run("show", instance["id"], "--json")
    assert shown["instance"]["publicIp"] == instance["publicIp"]

    code, stats, _ = run("stats", "--user", "user-123", "--json")
    assert stats["statistics"]["totalProvisioned"] == 1
    assert stats["statistics"]["currentlyRunning"] == 1
    assert stats["statistics"]["providerBreakdown"] == {"AWS": 1}

    code, down, _ = run("down", instance["id"], "--json")
    assert code == 0
    assert down["message"] == "Instance terminated successfully"
    assert down["instance"]["status"] == "TERMINATED"
    assert down["instance"]["terminatedAt"] is not None
    assert down["instance"]["totalCost"] >= 0

    code, stats, _ = run("stats", "--json")
    assert stats["statistics"]["currentlyRunning"] == 0


def test_seed_azure_example_shows_seed_metadata_and_warns_about_retirement(home):
    code, body, output = run(*SEED_AZURE, "--json")
    assert code == 0
    instance = body["instance"]
    assert instance["costPerHour"] == 0.9
    assert set(instance["metadata"]) >= {"resourceGroup", "location", "vmSize"}
    assert instance["metadata"]["vmSize"] == "Standard_NC6"
    assert instance["tags"] == {"environment": "production", "project": "medical-analysis"}
    assert "retired" in output


def test_human_output_labels_the_simulation(home):
    code, _, output = run(*SEED_AWS)
    assert code == 0
    assert "SIMULATION" in output
    assert "READY" in output and "203.0.113." in output


@pytest.mark.parametrize(
    ("change", "starts"),
    [
        (["--disk-gb", "10"], "error: Disk size must be between 30 and 4096 GB"),
        (["--ttl", "2"], "error: Auto-terminate must be between 5 and 120 minutes"),
        (["--provider", "oracle"], "error: Provider must be AWS, AZURE or GCP"),
        (
            ["--provider", "azure", "--region", "eastus"],
            "error: Instance type g4dn.xlarge is an AWS",
        ),
        (["--region", "atlantis-1"], "error: Region 'atlantis-1' is not offered"),
        (["--tag", "novalue"], "error: Tag must be key=value"),
        (["--allow-ssh-from", "10.0.0.300/8"], "error: Allowed SSH CIDR"),
        (["--user", "not ok!"], "error: User id must be"),
    ],
)
def test_seed_bad_inputs_exit_2_with_one_line_and_leave_no_record(home, change, starts):
    args = list(SEED_AWS)
    for i in range(0, len(change), 2):
        flag, value = change[i], change[i + 1]
        if flag in args and flag != "--tag":
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts), result.stderr
    assert run("list", "--json")[1]["count"] == 0


def test_bad_input_in_json_mode_prints_the_error_envelope(home):
    code, body, _ = run(*SEED_AWS, "--disk-gb", "10", "--json")
    assert code == 2
    assert body == {
        "success": False,
        "error": {"code": "VALIDATION_ERROR", "message": body["error"]["message"]},
    }
    assert body["error"]["message"].startswith("Disk size")


def test_ssh_key_file_and_missing_key_file(home, tmp_path):
    key = tmp_path / "id.pub"
    key.write_text(ED25519_KEY + "\n")
    code, body, _ = run(
        *SEED_AWS, "--ssh-key", str(key), "--allow-ssh-from", "198.51.100.7/32", "--json"
    )
    assert code == 0
    stack = json.loads((home / "simulated-stacks" / f"{body['instance']['id']}.json").read_text())
    assert "aws:ec2/keyPair:KeyPair" in {r["type"] for r in stack["resources"]}
    code, _, output = run(*SEED_AWS, "--ssh-key", str(tmp_path / "nope.pub"))
    assert code == 2 and "SSH key file" in output


def test_failed_up_exits_1_and_records_the_capacity_error(home, monkeypatch):
    monkeypatch.setenv("PROVISIONER_SIM_FAIL_UP", "1")
    monkeypatch.setenv("PROVISIONER_SIM_FAIL_KIND", "capacity")
    result = runner.invoke(app, SEED_AWS)
    assert result.exit_code == 1
    assert "InsufficientInstanceCapacity" in result.stderr
    monkeypatch.delenv("PROVISIONER_SIM_FAIL_UP")
    [failed] = run("list", "--json")[1]["instances"]
    assert failed["status"] == "FAILED"
    assert failed["errorCode"] == "InsufficientInstanceCapacity"
    stack = json.loads((home / "simulated-stacks" / f"{failed['id']}.json").read_text())
    assert stack["resources"] == []


def test_failed_down_exits_1_and_a_later_down_finishes(home, monkeypatch):
    instance = run(*SEED_AWS, "--json")[1]["instance"]
    monkeypatch.setenv("PROVISIONER_SIM_FAIL_DESTROY", "1")
    code, _, output = run("down", instance["id"])
    assert code == 1 and "destroy failed" in output
    assert run("show", instance["id"], "--json")[1]["instance"]["status"] == "STOPPING"
    monkeypatch.delenv("PROVISIONER_SIM_FAIL_DESTROY")
    code, body, _ = run("down", instance["id"], "--json")
    assert code == 0 and body["instance"]["status"] == "TERMINATED"


def test_down_by_task_terminates_only_that_task(home):
    first = run(*SEED_AWS, "--json")[1]["instance"]
    other = run(*SEED_AZURE, "--json")[1]["instance"]
    code, body, _ = run("down", "--task", "batch-789", "--json")
    assert code == 0 and body["count"] == 1
    assert body["instances"][0]["id"] == first["id"]
    assert run("show", other["id"], "--json")[1]["instance"]["status"] == "READY"


def test_down_needs_ids_or_a_task_and_unknown_ids_are_bad_input(home):
    assert runner.invoke(app, ["down"]).exit_code == 2
    result = runner.invoke(app, ["show", "inst-doesnotexist"])
    assert result.exit_code == 2 and "not found" in result.stderr


def test_status_events_and_history(home):
    instance = run(*SEED_AWS, "--json")[1]["instance"]
    assert run("status", instance["id"], "RUNNING", "--json")[1]["instance"]["status"] == "RUNNING"
    code, body, _ = run("events", instance["id"], "--json")
    assert code == 0
    notes = ("instance:warning", "instance:readiness")  # remarks, not state changes
    assert [e["status"] for e in body["events"] if e["type"] not in notes] == [
        "PROVISIONING",
        "CONFIGURING",
        "READY",
        "RUNNING",
    ]
    assert body["count"] == 6
    assert set(body["events"][0]) == {"type", "status", "at", "detail"}
    code, body, _ = run("history", instance["id"], "--json")
    assert code == 0 and body["history"] is None and "simulated" in body["note"]
    result = runner.invoke(app, ["status", instance["id"], "TERMINATED"])
    assert result.exit_code == 2  # bad input (#27: it was 1)


def test_list_rejects_an_unknown_status(home):
    result = runner.invoke(app, ["list", "--status", "BOOTING"])
    assert result.exit_code == 2 and "Status must be one of" in result.stderr


def test_types_lists_the_catalog_and_marks_retired_types(home):
    code, body, _ = run("types", "--provider", "azure", "--all", "--json")
    assert code == 0
    by_name = {t["instanceType"]: t for t in body["instanceTypes"]}
    assert by_name["Standard_NC6"]["retired"] is True
    assert by_name["Standard_NC6"]["costPerHour"] == 0.9
    assert all(t["provider"] == "AZURE" for t in body["instanceTypes"])
    result = runner.invoke(app, ["types", "--all"])
    assert "Retired" in result.stdout and "g4dn.xlarge" in result.stdout


def test_doctor_on_the_simulated_engine_never_prints_secrets(home, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value-123")
    code, body, output = run("doctor", "--simulate", "--json")
    assert code == 0 and body["success"] is True
    assert "very-secret-value-123" not in output


def test_pulumi_engine_without_cli_fails_with_the_fix_and_creates_nothing(home, monkeypatch):
    monkeypatch.setenv("PROVISIONER_ENGINE", "pulumi")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("HOME", str(home / "fakehome"))
    result = runner.invoke(app, [a for a in SEED_AWS if a != "--simulate"])
    assert result.exit_code == 1
    assert "--simulate" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert run("list", "--json")[1]["count"] == 0


def test_help_imports_no_heavy_modules():
    code = (
        "import sys, runpy; sys.argv = ['provisioner', '--help'];\n"
        "try: runpy.run_module('provisioner.cli.main', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "heavy = [m for m in ('pulumi', 'sqlmodel', 'sqlalchemy', 'fastapi', 'pydantic_settings',"
        " 'uvicorn', 'matplotlib', 'httpx', 'rich.markdown', 'typer.rich_utils')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")]
            ),
        },
    )
    assert "HEAVY []" in out.stdout
    assert "up" in out.stdout and "down" in out.stdout
    assert "cost-report" in out.stdout and "budget" in out.stdout and "catalog" in out.stdout
    # Every command's first sentence whole: `run`'s is the longest.
    assert "whatever the outcome (Ctrl-C included); exit with the command's" in out.stdout


def test_a_retired_type_on_the_real_engine_exits_2_naming_the_replacement(home, monkeypatch):
    """#13: before anything is created (no ledger row), unless --allow-retired; the simulation
    keeps accepting the seed's Standard_NC6 with a warning."""
    monkeypatch.setenv("PROVISIONER_ENGINE", "pulumi")
    args = [a for a in SEED_AZURE if a != "--simulate"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Standard_NC4as_T4_v3" in lines[0], result.stderr
    assert "--allow-retired" in lines[0]
    assert run("list", "--json")[1]["count"] == 0
    simulated = runner.invoke(app, SEED_AZURE)
    assert simulated.exit_code == 0, simulated.stderr
    assert "retired" in simulated.stderr


def test_an_aws_up_declares_the_cloud_side_deadline_and_its_down_removes_it(home):
    """#25: `up --provider aws` runs the AWS program, which declares the EventBridge Scheduler
    schedule that terminates the VM at its hard deadline (its inputs are pinned under mocks in
    tests/stacks/test_aws_program.py); `down` takes it away with the rest."""
    code, body, _ = run(*SEED_AWS, "--json")
    assert code == 0
    instance_id = body["instance"]["id"]
    (stack_file,) = (home / "simulated-stacks").glob(f"*{instance_id}*.json")
    resources = json.loads(stack_file.read_text())["resources"]
    schedules = [r for r in resources if r["type"] == "aws:scheduler/schedule:Schedule"]
    assert len(schedules) == 1 and "deadline" in schedules[0]["name"]
    assert {r["type"] for r in resources} >= {"aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"}

    code, _, _ = run("down", instance_id, "--json")
    assert code == 0
    remaining = json.loads(stack_file.read_text())["resources"] if stack_file.exists() else []
    assert remaining == []
