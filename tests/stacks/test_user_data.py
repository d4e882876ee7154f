"""The programs' first-boot script with a setup script and idle auto-stop, under Pulumi mocks:
the deadman comes first and is intact, the idle guard is installed with the right N, the setup
script travels base64-encoded (it cannot end a heredoc or reach our shell) and runs as the
login user in its own process, last."""

from __future__ import annotations

import base64
import gzip
import random
import string

from stacks import azure
from stacks.deadman import IDLE_PATH, SETUP_LOG, idle_script, shutdown_script
from stacks.disks import data_disk_script

AWS_INSTANCE = "aws:ec2/instance:Instance"
AZURE_VM = "azure-native:compute:VirtualMachine"
EVIL = (
    "#!/bin/sh\nPROVISIONER_DEADMAN\nPROVISIONER_IDLE\nshutdown -c\n"
    "systemctl disable provisioner-deadman.service\nexit 0\n"
)


def _aws_script(run, spec) -> str:
    inputs = run(spec).one(AWS_INSTANCE).inputs
    if inputs.get("userData"):
        return inputs["userData"]
    return gzip.decompress(base64.b64decode(inputs["userDataBase64"])).decode()


def _azure_script(run, spec) -> str:
    encoded = run(spec).one(AZURE_VM).inputs["osProfile"]["customData"]
    return base64.b64decode(encoded).decode()


def _setup_payload(script: str) -> str:
    line = next(x for x in script.splitlines() if x.startswith("echo '") and "base64 -d" in x)
    return gzip.decompress(base64.b64decode(line.split("'")[1])).decode()


def test_aws_idle_guard_installed_with_n_and_deadman_first(make_spec, run):
    script = _aws_script(run, make_spec(idle_minutes=25, hard_deadline="2025-06-01T15:45:00Z"))
    assert script.startswith(shutdown_script("2025-06-01T15:45:00Z"))
    assert idle_script(25) in script
    assert "idle_seconds=1500\n" in script
    assert script.index("provisioner-deadman") < script.index(IDLE_PATH)
    assert "systemctl enable --now provisioner-idle.service" in script


def test_azure_idle_guard_installed_with_n(make_azure_spec, run):
    script = _azure_script(run, make_azure_spec(idle_minutes=7))
    # On Azure the OS halt comes after the platform's deallocating schedule (#13).
    assert script.startswith(
        shutdown_script(
            "2025-06-01T15:45:00Z", halt_after_minutes=azure.OS_HALT_AFTER_DEALLOCATE_MINUTES
        )
    )
    assert "idle_seconds=420\n" in script


def test_setup_script_runs_last_as_the_login_user_and_cannot_break_out(make_spec, run):
    script = _aws_script(run, make_spec(setup_script=EVIL, idle_minutes=10))
    deadman_end = script.index(shutdown_script("2025-06-01T15:45:00Z")) + len(
        shutdown_script("2025-06-01T15:45:00Z")
    )
    setup_at = script.index("base64 -d")
    assert deadman_end <= script.index(IDLE_PATH) < setup_at
    assert _setup_payload(script) == EVIL
    # None of the script's text reaches our shell: not its heredoc markers, not its commands.
    assert "shutdown -c" not in script
    assert script.count("PROVISIONER_DEADMAN") == 2  # our own heredoc's start and end
    assert "runuser -l ubuntu -c 'sh /var/lib/provisioner/setup.sh'" in script
    assert f">> {SETUP_LOG} 2>&1" in script


def test_azure_setup_runs_as_azureuser(make_azure_spec, run):
    script = _azure_script(run, make_azure_spec(setup_script="echo hi\n"))
    assert "runuser -l azureuser" in script
    assert _setup_payload(script) == "echo hi\n"


def test_a_16k_setup_script_fits_ec2s_user_data_limit_compressed(make_spec, run):
    rng = random.Random(7)
    text = "".join(rng.choice(string.ascii_letters + " \n") for _ in range(16 * 1024))
    inputs = run(make_spec(setup_script=text)).one(AWS_INSTANCE).inputs
    assert not inputs.get("userData")
    packed = base64.b64decode(inputs["userDataBase64"])
    assert len(packed) <= 16 * 1024
    script = gzip.decompress(packed).decode()
    assert script.startswith(shutdown_script("2025-06-01T15:45:00Z"))
    assert _setup_payload(script) == text


def test_without_setup_or_idle_the_user_data_is_the_deadman_and_the_data_disk(make_spec, run):
    script = _aws_script(run, make_spec())
    assert script.startswith(shutdown_script("2025-06-01T15:45:00Z"))
    assert script.endswith(data_disk_script())  # the data disk at /data (#13), nothing else
    assert IDLE_PATH not in script and "base64 -d" not in script
