"""The simulated engine on its own: state across processes, locks, injected failures, delay."""

import json
import os
import subprocess
import sys
import time

import pytest
from factories import make_request

from provisioner.config import Settings
from provisioner.engine.simulated.engine import SimulatedEngine
from provisioner.ops.service import Provisioner
from provisioner.rules.errors import ConflictError, DestroyFailedError, ProvisioningFailedError


@pytest.fixture
def spec_for(service):
    def build(**overrides):
        instance = service.begin_provision(make_request(**overrides))
        return service._spec(instance)

    return build


def test_outputs_and_destroy_work_from_a_fresh_engine_as_from_another_process(settings, spec_for):
    spec = spec_for()
    made = SimulatedEngine(settings).up(spec, message="test")
    again = SimulatedEngine(settings)
    assert again.outputs(spec.instance_id) == made
    [info] = again.list_stacks()
    assert info.name == spec.instance_id and info.resource_count >= 3
    assert info.tags["provisioner:user-id"] == "user-123"
    again.destroy(spec.instance_id, message="test")
    assert SimulatedEngine(settings).list_stacks()[0].resource_count == 0
    assert SimulatedEngine(settings).outputs(spec.instance_id).public_ip is None


def test_destroying_an_unknown_stack_is_a_no_op(settings):
    SimulatedEngine(settings).destroy("inst-never-made", message="test")


def test_a_stack_locked_by_a_live_process_is_refused_and_a_dead_lock_is_taken_over(
    settings, spec_for
):
    spec = spec_for()
    engine = SimulatedEngine(settings)
    engine.up(spec, message="test")
    path = settings.home / "simulated-stacks" / f"{spec.instance_id}.json"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        state = json.loads(path.read_text())
        state["lock"] = {"pid": sleeper.pid, "operation": "update", "since": "now"}
        path.write_text(json.dumps(state))
        with pytest.raises(ConflictError, match="currently locked by process"):
            engine.destroy(spec.instance_id, message="test")
    finally:
        sleeper.kill()
        sleeper.wait()
    engine.destroy(spec.instance_id, message="test")  # the holder died: the lock is stale
    assert json.loads(path.read_text())["resources"] == []


def test_injected_failures_are_worded_like_the_cloud_and_classified(home, spec_for):
    engine = SimulatedEngine(Settings(home=home, sim_fail_up=1, sim_fail_kind="quota"))
    with pytest.raises(ProvisioningFailedError) as err:
        engine.up(spec_for(), message="test")
    assert err.value.kind == "quota" and err.value.provider_code == "VcpuLimitExceeded"
    assert err.value.message.startswith("[simulated]")
    failing = SimulatedEngine(Settings(home=home, sim_fail_destroy=1))
    spec = spec_for()
    SimulatedEngine(Settings(home=home)).up(spec, message="test")
    with pytest.raises(DestroyFailedError):
        failing.destroy(spec.instance_id, message="test")


def test_delay_is_spent_around_the_vm_creation(home, spec_for):
    engine = SimulatedEngine(Settings(home=home, sim_delay=0.4))
    started = time.monotonic()
    engine.up(spec_for(), message="test")
    assert time.monotonic() - started >= 0.4


def test_a_process_killed_mid_up_leaves_its_resources_on_record(home):
    """SIGKILL during a slow simulated up: the half-made stack is visible for clean-up."""
    env = {
        **os.environ,
        "PROVISIONER_HOME": str(home),
        "PROVISIONER_ENGINE": "simulated",
        "PROVISIONER_SIM_DELAY": "30",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provisioner.cli.main",
            "up",
            "--provider",
            "aws",
            "--instance-type",
            "g4dn.xlarge",
            "--json",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stacks = home / "simulated-stacks"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        files = list(stacks.glob("*.json")) if stacks.exists() else []
        if files and json.loads(files[0].read_text())["resources"]:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    [info] = SimulatedEngine(Settings(home=home)).list_stacks()
    assert info.resource_count and info.resource_count >= 1
    service = Provisioner(Settings(home=home, engine="simulated"))
    [row] = service.list()
    assert row.status == "PROVISIONING"  # the reaper (issue #4) resolves these
