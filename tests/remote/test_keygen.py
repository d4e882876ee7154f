"""Per-instance SSH keys without the `cryptography` package (#21): OpenSSH's ssh-keygen makes
them when cryptography (the `sim` extra) is not installed, and they work the same.

"Not installed" is a `sitecustomize` on PYTHONPATH that refuses the import, in a fresh
interpreter, as an `[aws]` install without the `sim` extra has it missing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from factories import make_request
from remote.conftest import LOCAL, needs_sshd

from provisioner.remote import keys
from provisioner.rules.validation import validate_ssh_key

ROOT = Path(__file__).parents[2]

BLOCK = """
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('cryptography', 'asyncssh'):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


CLI = """
import runpy, sys
sys.argv = ['provisioner', *sys.argv[1:]]
runpy.run_module('provisioner.cli.main', run_name='__main__')
"""


def ssh_keygen(*args: str) -> str:
    done = subprocess.run(["ssh-keygen", *args], capture_output=True, text=True, check=True)
    return done.stdout


def assert_valid_pair(home: Path, instance_id: str, line: str) -> None:
    """OpenSSH reads the private key, derives the recorded public key from it, and prints the
    fingerprint the ledger records."""
    private = keys.key_path(home, instance_id)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    kind, blob, comment = line.split()
    assert (kind, comment) == ("ssh-ed25519", f"provisioner-{instance_id}")
    assert ssh_keygen("-y", "-f", str(private)).split()[:2] == [kind, blob]
    public_file = private.with_name(f"{instance_id}.pub")
    assert public_file.read_text() == line + "\n"
    _, fingerprint = validate_ssh_key(line)
    assert fingerprint is not None and fingerprint.startswith("SHA256:")
    assert ssh_keygen("-l", "-f", str(public_file)).split()[1] == fingerprint
    left = {p.name for p in keys.keys_dir(home).iterdir()}
    assert {instance_id, f"{instance_id}.pub"} <= left
    assert not [name for name in left if name.startswith(".keygen-")]  # the scratch folder is gone


@needs_sshd
@pytest.mark.parametrize("backend", ["cryptography", "ssh-keygen"])
def test_both_key_makers_write_a_valid_openssh_pair(tmp_path, backend):
    line = keys.generate_key_pair(tmp_path, "inst-0123456789ab", backend=backend)
    assert_valid_pair(tmp_path, "inst-0123456789ab", line)


@needs_sshd
def test_an_instance_keyed_by_ssh_keygen_is_reachable_over_ssh(service, home, monkeypatch):
    monkeypatch.setenv(keys.KEYGEN_ENV, "ssh-keygen")
    instance = service.provision(make_request(allowed_ssh_cidrs=(LOCAL,)))
    assert instance.status == "READY"
    assert instance.ssh_command is not None
    line = keys.key_path(home, instance.id).with_name(f"{instance.id}.pub").read_text().strip()
    assert_valid_pair(home, instance.id, line)
    assert instance.ssh_key_fingerprint == validate_ssh_key(line)[1]
    argv = instance.ssh_command.split("  #")[0].split()
    done = subprocess.run(
        [*argv, "-o", "BatchMode=yes", "echo", "hi"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr


def run_without_cryptography(tmp_path: Path, code: str, *args: str, path: str | None = None):
    blocker = tmp_path / "blocker"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text(BLOCK)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)]),
        "PROVISIONER_HOME": str(tmp_path / "home"),
        "PROVISIONER_ENGINE": "simulated",
    }
    env.pop("PROVISIONER_DATABASE_URL", None)
    env.pop(keys.KEYGEN_ENV, None)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )


@needs_sshd
def test_without_cryptography_help_and_keys_work_through_ssh_keygen(tmp_path):
    code = """
import json, runpy, sys
from pathlib import Path
home = Path(sys.argv[1])
try:
    import cryptography
except ImportError:
    pass
else:
    raise SystemExit("cryptography is importable: the blocker did not work")
sys.argv = ['provisioner', '--help']
try:
    runpy.run_module('provisioner.cli.main', run_name='__main__')
except SystemExit as exc:
    assert not exc.code, exc.code
from provisioner.remote import keys
line = keys.generate_key_pair(home, 'inst-0123456789ab')
print('RESULT', json.dumps({'line': line, 'loaded': sorted(
    m for m in sys.modules if m.split('.')[0] in ('cryptography', 'asyncssh'))}))
"""
    out = run_without_cryptography(tmp_path, code, str(tmp_path))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.split("RESULT ", 1)[1])
    assert result["loaded"] == []
    assert_valid_pair(tmp_path, "inst-0123456789ab", result["line"])


def test_without_cryptography_or_ssh_keygen_up_exits_2_and_records_nothing(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()  # a PATH without ssh-keygen
    up = ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge"]
    out = run_without_cryptography(tmp_path, CLI, *up, path=str(empty))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [f"error: {keys.NO_KEYGEN}"]
    listed = run_without_cryptography(tmp_path, CLI, "list", "--json", path=str(empty))
    assert listed.returncode == 0 and json.loads(listed.stdout)["count"] == 0, listed.stderr
    home = tmp_path / "home"
    assert not keys.keys_dir(home).exists() or list(keys.keys_dir(home).iterdir()) == []
    assert not (home / "simulated-vms").exists() or list((home / "simulated-vms").iterdir()) == []


@needs_sshd
def test_without_cryptography_a_simulated_vm_comes_up_and_answers_over_ssh(tmp_path):
    """An `[aws]` install without `[sim]`: OpenSSH's ssh-keygen makes the instance's key and the
    simulated VM's host key, and the instance is reachable."""
    up = ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge"]
    out = run_without_cryptography(tmp_path, CLI, *up, "--allow-ssh-from", LOCAL, "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    instance = json.loads(out.stdout)["instance"]
    try:
        assert instance["status"] == "READY"
        assert instance["sshKeyFingerprint"].startswith("SHA256:")
        ran = run_without_cryptography(tmp_path, CLI, "exec", instance["id"], "--", "echo hi")
        assert (ran.returncode, ran.stdout) == (0, "hi\n"), ran.stderr
    finally:
        down = run_without_cryptography(tmp_path, CLI, "down", instance["id"])
        assert down.returncode == 0, down.stderr


def test_no_sshd_and_no_asyncssh_names_the_sim_extra_and_records_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PROVISIONER_SIM_SSHD", "python")  # as if OpenSSH's sshd were absent
    up = ["up", "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge"]
    out = run_without_cryptography(tmp_path, CLI, *up)
    assert out.returncode == 1, out.stdout + out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].endswith(
        "the simulated VM needs an SSH server: apt-get install openssh-server, "
        "or pip install 'provisioner[sim]' (asyncssh's server)"
    ), out.stderr
    listed = run_without_cryptography(tmp_path, CLI, "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["count"] == 0, listed.stderr
