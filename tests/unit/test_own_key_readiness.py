"""Readiness with the user's own key (no private half here): how long sshd's refusal is waited
out before readiness falls back to the cloud's signal."""

from __future__ import annotations

from pathlib import Path

from provisioner.ops.remote_access import OWN_KEY_REFUSED_SECONDS, _own_key_refused
from provisioner.remote.ssh import SshTarget

DENIED = "ubuntu@203.0.113.9: Permission denied (publickey).\n"
REFUSED = "ssh: connect to host 203.0.113.9 port 22: Connection refused\n"


def target(*, key_file: Path | None = None, simulated: bool = False) -> SshTarget:
    return SshTarget(
        host="203.0.113.9",
        port=22,
        user="ubuntu",
        known_hosts=Path("/nonexistent/known_hosts"),
        key_file=key_file,
        simulated=simulated,
    )


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_refusal_of_your_own_key_is_final_only_after_the_grace():
    ticks = Ticks()
    refused = _own_key_refused(target(), monotonic=ticks)
    assert not refused(DENIED)  # cloud-init may not have installed the key yet
    ticks.now += OWN_KEY_REFUSED_SECONDS - 1
    assert not refused(DENIED)
    ticks.now += 1
    assert refused(DENIED)


def test_another_failure_restarts_the_grace():
    ticks = Ticks()
    refused = _own_key_refused(target(), monotonic=ticks)
    assert not refused(DENIED)
    ticks.now += OWN_KEY_REFUSED_SECONDS - 1
    assert not refused(REFUSED)  # sshd went away (a reboot): the refusal streak is over
    ticks.now += 2
    assert not refused(DENIED)
    ticks.now += OWN_KEY_REFUSED_SECONDS
    assert refused(DENIED)


def test_our_own_key_pair_is_never_given_up_on():
    ticks = Ticks()
    refused = _own_key_refused(target(key_file=Path("/home/k/inst-1")), monotonic=ticks)
    assert not refused(DENIED)
    ticks.now += 10 * OWN_KEY_REFUSED_SECONDS
    assert not refused(DENIED)  # that key must work: wait out the readiness timeout


def test_the_simulated_vm_has_its_keys_before_sshd_starts():
    refused = _own_key_refused(target(simulated=True), monotonic=Ticks())
    assert refused(DENIED)
    assert not refused(REFUSED)
