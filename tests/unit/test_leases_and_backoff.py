"""Lease owners and the destroy backoff (pure parts of issue #4's recovery)."""

import socket
import subprocess
import sys
from datetime import timedelta

from provisioner.config import Settings
from provisioner.ops.leases import make_owner, owner_is_dead
from provisioner.ops.retries import destroy_backoff


def owner_of_pid(pid: int) -> str:
    host, namespace, _, nonce = make_owner().split("|")
    return f"{host}|{namespace}|{pid}|{nonce}"


def test_a_process_that_exited_on_this_machine_is_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert owner_is_dead(owner_of_pid(child.pid))


def test_a_running_process_is_not_dead():
    assert not owner_is_dead(make_owner())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not owner_is_dead(owner_of_pid(child.pid))
    finally:
        child.kill()
        child.wait()


def test_owners_elsewhere_are_never_presumed_dead():
    _, namespace, _, nonce = make_owner().split("|")
    assert not owner_is_dead(f"another-{socket.gethostname()}|{namespace}|999999|{nonce}")
    host = make_owner().split("|")[0]
    assert not owner_is_dead(f"{host}|pid:[1]|999999|{nonce}"), "another pid namespace"
    assert not owner_is_dead("not an owner")


def test_destroy_backoff_doubles_and_is_capped(tmp_path):
    settings = Settings(home=tmp_path, destroy_retry_base_seconds=30, destroy_retry_max_seconds=600)
    waits = [destroy_backoff(n, settings) for n in range(1, 8)]
    assert waits[:5] == [timedelta(seconds=s) for s in (30, 60, 120, 240, 480)]
    assert waits[5:] == [timedelta(seconds=600)] * 2
    assert destroy_backoff(10_000, settings) == timedelta(seconds=600)
