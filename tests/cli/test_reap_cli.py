"""`reap` and `extend` as an operator runs them: real subprocesses, a shifted clock (libfaketime),
SIGKILL in the middle of an up and of a destroy, two reapers at once. Simulated engine, real
SQLite."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import make_request

from provisioner.config import Settings
from provisioner.ops.service import Provisioner


def _libfaketime() -> Path | None:
    spec = importlib.util.find_spec("libfaketime")
    if spec is None or not spec.submodule_search_locations or not sys.platform.startswith("linux"):
        return None
    path = Path(spec.submodule_search_locations[0]) / "vendor/libfaketime/src/libfaketime.so.1"
    return path if path.exists() else None


LIBFAKETIME = _libfaketime()
needs_faketime = pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime not available")


def env_for(home: Path, shift: str | None = None, **knobs: str) -> dict[str, str]:
    env = {**os.environ, "PROVISIONER_HOME": str(home), "PROVISIONER_ENGINE": "simulated"}
    for name in (
        "PROVISIONER_SIM_FAIL_UP",
        "PROVISIONER_SIM_FAIL_DESTROY",
        "PROVISIONER_SIM_DELAY",
    ):
        env.pop(name, None)
    env.update({f"PROVISIONER_{k.upper()}": v for k, v in knobs.items()})
    if shift is not None:
        assert LIBFAKETIME is not None
        env.update(LD_PRELOAD=str(LIBFAKETIME), FAKETIME=shift, FAKETIME_DONT_FAKE_MONOTONIC="1")
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "provisioner.cli.main", *args]


def run(home: Path, *args: str, shift: str | None = None, **knobs: str):
    return subprocess.run(
        command(*args),
        env=env_for(home, shift, **knobs),
        capture_output=True,
        text=True,
        timeout=120,
    )


def reap(home: Path, shift: str | None = None, **knobs: str) -> dict:
    done = run(home, "reap", "--once", "--json", shift=shift, **knobs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def up(home: Path, *args: str, **knobs: str):
    return run(home, "up", "--provider", "aws", "--instance-type", "g4dn.xlarge", "--json",
               *args, **knobs)  # fmt: skip


def ledger(home: Path) -> Provisioner:
    return Provisioner(Settings(home=home, engine="simulated"))


def stack_resources(home: Path, instance_id: str) -> list:
    path = home / "simulated-stacks" / f"{instance_id}.json"
    return json.loads(path.read_text())["resources"] if path.exists() else []


def wait_for(predicate, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@needs_faketime
def test_ttl_under_a_shifted_clock_and_extend(home):
    short = json.loads(up(home, "--ttl", "5").stdout)["instance"]
    kept = json.loads(up(home, "--ttl", "5").stdout)["instance"]
    extended = run(home, "extend", kept["id"], "--minutes", "10")
    assert extended.returncode == 0, extended.stderr
    assert "expires" in extended.stdout

    at_3 = reap(home, shift="+3m")
    real_now = datetime.now(UTC)
    swept_at = datetime.fromisoformat(at_3["at"].replace("Z", "+00:00"))
    assert swept_at - real_now > timedelta(minutes=2), "the sweep ran under the shifted clock"
    assert at_3["expired"] == 0
    at_7 = reap(home, shift="+7m")
    assert (at_7["expired"], at_7["failed"]) == (1, 0)
    assert at_7["actions"][0]["target"] == short["id"]
    service = ledger(home)
    assert service.get(short["id"]).status == "TERMINATED"
    assert service.get(kept["id"]).status == "READY", "extended: survives its first ttl"
    assert reap(home, shift="+16m")["expired"] == 1
    assert service.get(kept["id"]).status == "TERMINATED"


def test_extend_refuses_bad_minutes_with_exit_2(home):
    instance = json.loads(up(home, "--ttl", "5").stdout)["instance"]
    done = run(home, "extend", instance["id"], "--minutes", "0")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: Extension must be between 1 and 120 minutes (got 0)"
    ]


def test_a_capacity_failure_leaves_a_failed_record_and_nothing_else(home):
    done = up(home, sim_fail_up="1", sim_fail_kind="capacity")
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "PROVISIONING_FAILED"
    assert "InsufficientInstanceCapacity" in error["message"]
    [failed] = ledger(home).list()
    assert failed.status == "FAILED" and failed.error_code == "InsufficientInstanceCapacity"
    assert failed.error.startswith("capacity: ")
    assert stack_resources(home, failed.id) == []


@needs_faketime
def test_a_failed_down_is_finished_by_a_later_sweep(home):
    instance = json.loads(up(home).stdout)["instance"]
    down = run(home, "down", instance["id"], sim_fail_destroy="1")
    assert down.returncode == 1
    assert "still bill" in down.stderr
    service = ledger(home)
    assert service.get(instance["id"]).status == "STOPPING"
    assert stack_resources(home, instance["id"])
    result = reap(home, shift="+1m")  # past the first backoff (30 s)
    assert (result["retried"], result["failed"]) == (1, 0)
    assert service.get(instance["id"]).status == "TERMINATED"
    assert stack_resources(home, instance["id"]) == []


def test_sigkill_in_the_middle_of_an_up_is_resolved_by_a_sweep(home):
    proc = subprocess.Popen(
        command("up", "--provider", "aws", "--instance-type", "g4dn.xlarge", "--json"),
        env=env_for(home, sim_delay="30"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stacks = home / "simulated-stacks"
    wait_for(
        lambda: (
            any(json.loads(p.read_text())["resources"] for p in stacks.glob("*.json"))
            if stacks.exists()
            else False
        ),
        "the up to create its first resources",
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    [stuck] = ledger(home).list()
    assert stuck.status == "PROVISIONING" and stack_resources(home, stuck.id)

    first = reap(home)
    assert (first["recovered"], first["failed"]) == (1, 0)
    failed = ledger(home).get(stuck.id)
    assert failed.status == "FAILED" and failed.error_code == "INTERRUPTED"
    assert failed.terminated_at is not None
    assert stack_resources(home, stuck.id) == []
    assert reap(home)["orphans"] == 0


def test_sigkill_in_the_middle_of_a_destroy_is_resolved_by_a_sweep(home):
    instance = json.loads(up(home).stdout)["instance"]
    proc = subprocess.Popen(
        command("down", instance["id"]),
        env=env_for(home, sim_delay="30"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    service = ledger(home)
    wait_for(lambda: service.get(instance["id"]).status == "STOPPING", "the destroy to start")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert stack_resources(home, instance["id"]), "the destroy never finished"

    first = reap(home)
    assert (first["recovered"], first["failed"]) == (1, 0)
    done = service.get(instance["id"])
    assert done.status == "TERMINATED" and done.terminated_at is not None
    assert stack_resources(home, instance["id"]) == []
    assert reap(home)["orphans"] == 0


@needs_faketime
def test_two_reapers_at_once_stop_each_expired_instance_exactly_once(home):
    service = ledger(home)
    ids = [service.provision(make_request(auto_terminate_minutes=5)).id for _ in range(4)]
    procs = [
        subprocess.Popen(
            command("reap", "--once", "--json"),
            env=env_for(home, "+10m", sim_delay="0.3"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    summaries = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        summaries.append(json.loads(out))
    assert sum(s["expired"] for s in summaries) == 4
    for instance_id in ids:
        statuses = [e.status for e in service.events(instance_id)]
        assert statuses.count("STOPPING") == 1 and statuses.count("TERMINATED") == 1
