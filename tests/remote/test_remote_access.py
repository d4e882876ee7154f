"""Keys, readiness, exec, ssh, logs and setup scripts, end to end over real SSH: the simulated
engine's VMs run a real sshd on 127.0.0.1; only their operating system is simulated."""

from __future__ import annotations

import http.server
import json
import shutil
import stat
import subprocess
import threading
from datetime import timedelta

import pytest
from factories import FakeClock, make_request
from remote.conftest import LOCAL, cli, needs_sshd, sshd_processes
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.config import Settings
from provisioner.engine.simulated import sshd as sim_sshd
from provisioner.ops.reaper import Reaper
from provisioner.ops.service import Provisioner
from provisioner.remote import keys, runlog
from provisioner.remote.sync import sync
from provisioner.rules.errors import ProvisioningFailedError

pytestmark = needs_sshd
runner = CliRunner()


def statuses(service: Provisioner, instance_id: str) -> list[str]:
    return [e.type for e in service.events(instance_id)]


@pytest.fixture
def ready(service: Provisioner) -> str:
    """A READY simulated instance that SSH may reach from here."""
    return service.provision(make_request(allowed_ssh_cidrs=(LOCAL,))).id


def test_ready_means_ssh_answered_with_a_pinned_key_and_cloud_init_done(service, home):
    instance = service.provision(make_request(allowed_ssh_cidrs=(LOCAL,)))
    assert instance.status == "READY"
    details = [e.detail or "" for e in service.events(instance.id)]
    assert any("waiting up to 600 s for SSH" in d for d in details)
    assert "SSH answered at 127.0.0.1:" in details[-1] and "cloud-init finished" in details[-1]
    pinned = keys.known_hosts_path(home, instance.id).read_text()
    host_key = (home / "simulated-vms" / instance.id / "host_key.pub").read_text().split()[1]
    assert host_key in pinned
    assert instance.ssh_user == "ubuntu"  # the AWS DLAMI's user, from the image definition
    assert instance.ssh_command is not None
    assert instance.ssh_command.endswith("# simulated VM: its local SSH endpoint")
    assert str(keys.key_path(home, instance.id)) in instance.ssh_command
    assert instance.allowed_ssh_cidrs == [LOCAL]
    assert instance.ssh_key_fingerprint and instance.ssh_key_fingerprint.startswith("SHA256:")
    # The command shown is the one that works here.
    argv = instance.ssh_command.split("  #")[0].split()
    done = subprocess.run(
        [*argv, "-o", "BatchMode=yes", "echo", "hi"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, "hi\n")


def test_without_an_allowed_cidr_readiness_falls_back_to_the_cloud_signal(service):
    instance = service.provision(make_request())
    assert instance.status == "READY"
    details = [e.detail or "" for e in service.events(instance.id)]
    assert any(
        "readiness from the cloud's signal: SSH is not allowed from here (no allowed CIDR)" in d
        for d in details
    )
    warnings = [e.detail for e in service.events(instance.id) if e.type == "instance:warning"]
    assert any("nobody can reach this instance" in (w or "") for w in warnings)


def test_ssh_and_exec_on_an_instance_nobody_may_reach_say_so_in_one_line(service):
    instance = service.provision(make_request())
    for command in (["exec", instance.id, "--", "true"], ["ssh", instance.id, "--", "true"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        assert result.stderr.strip() == (
            f"error: Instance {instance.id} accepts no SSH: it was created without "
            "--allow-ssh-from (a CIDR, or `me`); create one with it to connect"
        )
    shown = service.get(instance.id)
    assert shown.status == "READY" and shown.ssh_command is None  # no command would work
    assert "instance:running" not in statuses(service, instance.id)  # nothing ran
    assert runlog.runs(service.settings.home, instance.id) == []


def test_open_to_the_world_is_allowed_with_a_warning(service):
    instance = service.provision(make_request(allowed_ssh_cidrs=("0.0.0.0/0",)))
    warnings = [e.detail or "" for e in service.events(instance.id) if e.type == "instance:warning"]
    assert any("open to the whole internet (0.0.0.0/0)" in w for w in warnings)
    assert instance.status == "READY"


def test_exec_streams_exits_with_the_remote_code_and_moves_running_then_ready(service, ready):
    result = runner.invoke(app, ["exec", ready, "--", "sh", "-c", "echo out; echo err >&2; exit 7"])
    assert result.exit_code == 7
    assert "out\n" in result.stdout
    events = statuses(service, ready)
    assert events[-2:] == ["instance:running", "instance:ready"]
    assert service.get(ready).status == "READY"
    records = runlog.runs(service.settings.home, ready)
    assert records[-1]["exitCode"] == 7 and records[-1]["kind"] == "exec"
    replay = runner.invoke(app, ["logs", ready])
    assert replay.exit_code == 0
    assert set(replay.stdout.splitlines()) == {"out", "err"}


def test_exec_runs_a_single_argument_as_a_shell_line(ready):
    result = runner.invoke(app, ["exec", ready, "--", "echo one && exit 3"])
    assert (result.exit_code, result.stdout) == (3, "one\n")


def test_ssh_with_a_command_works_without_prompts(ready, home):
    done = cli(
        "ssh",
        ready,
        "--",
        "-o",
        "LogLevel=ERROR",
        "true",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err


def test_a_changed_host_key_is_refused(service, ready, home):
    folder = home / "simulated-vms" / ready
    # The VM comes back with another host key (a man in the middle, or a rebuilt machine).
    sim_sshd.stop_sshd_only(folder)
    for name in ("host_key", "host_key.pub"):
        (folder / name).unlink()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_key")],
        check=True,
    )
    result = runner.invoke(app, ["exec", ready, "--", "true"])
    assert result.exit_code == 1
    # ssh's own warning streams through, then our one line.
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the VM's SSH host key differs from the one pinned on first contact; refusing to "
        "connect (possible man-in-the-middle)"
    )
    assert service.get(ready).status == "READY"  # back from RUNNING: nothing ran


def test_generated_private_key_is_0600_and_appears_nowhere_else(home, clock, caplog):
    settings = Settings(home=home, engine="simulated")
    service = Provisioner(settings, clock=clock)
    seen: list[str] = []
    service.on("*", lambda event: seen.append(json.dumps(event, default=str)))
    caplog.set_level("DEBUG")
    instance = service.provision(make_request(allowed_ssh_cidrs=(LOCAL,)))
    runner.invoke(app, ["exec", instance.id, "--", "true"])
    service.terminate(instance.id)
    path = keys.key_path(home, instance.id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    private = path.read_text()
    assert "OPENSSH PRIVATE KEY" in private
    body = "".join(private.splitlines()[1:-1])
    needles = [body[i : i + 40] for i in range(0, len(body) - 40, 40)]
    haystacks = {
        "ledger": (home / "ledger.db").read_bytes().decode(errors="replace"),
        "events": json.dumps([e.to_json() for e in service.events(instance.id)], default=str),
        "instance json": json.dumps(service.get(instance.id).to_json()),
        "webhook/event payloads": "\n".join(seen),
        "logs": caplog.text,
        "run logs": "".join(
            p.read_text() for p in (home / "runs" / instance.id).iterdir() if p.is_file()
        ),
    }
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"private key material in the {where}"
    assert service.get(instance.id).ssh_key_fingerprint in haystacks["instance json"]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("ecdsa", "error: SSH key type ecdsa-sha2-nistp256 is not accepted"),
        ("rsa1024", "error: SSH key ssh-rsa must have at least 2048 bits (got 1024)"),
        ("sk", "error: SSH key type sk-ssh-ed25519@openssh.com is not accepted"),
    ],
)
def test_keys_the_clouds_refuse_exit_2_with_one_line(tmp_path, home, key, message):
    from unit.test_validation_remote import ECDSA, RSA_1024, SK_ED25519

    text = {"ecdsa": ECDSA, "rsa1024": RSA_1024, "sk": SK_ED25519}[key]
    key_file = tmp_path / "key.pub"
    key_file.write_text(text + "\n")
    result = runner.invoke(
        app,
        [
            "up",
            "--simulate",
            "--provider",
            "aws",
            "--instance-type",
            "g4dn.xlarge",
            "--ssh-key",
            str(key_file),
        ],
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)
    assert not (home / "keys").exists() or not any((home / "keys").iterdir())


def test_a_users_own_key_is_installed_as_given_and_no_pair_is_made(service, home, tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "mine")], check=True
    )
    public = (tmp_path / "mine.pub").read_text().strip()
    instance = service.provision(make_request(ssh_public_key=public, allowed_ssh_cidrs=(LOCAL,)))
    assert not keys.has_private_key(home, instance.id)
    authorized = (home / "simulated-vms" / instance.id / "authorized_keys").read_text()
    assert authorized.strip() == public
    assert instance.ssh_command is not None and " -i " not in instance.ssh_command
    # The VM answered with its host key but refused this machine's identities: readiness says
    # so and falls back to the cloud's signal instead of waiting out the timeout.
    assert instance.status == "READY"
    details = [e.detail or "" for e in service.events(instance.id)]
    assert any("your own key is not usable from here" in d for d in details)


def test_setup_script_runs_at_boot_and_logs_setup_replays_it(service, tmp_path):
    instance = service.provision(
        make_request(
            allowed_ssh_cidrs=(LOCAL,),
            setup_script="echo preparing data\necho oops >&2\nexit 4\n",
        )
    )
    assert instance.status == "READY"
    warnings = [e.detail or "" for e in service.events(instance.id) if e.type == "instance:warning"]
    assert f"the setup script exited 4; see `provisioner logs {instance.id} --setup`" in warnings
    result = runner.invoke(app, ["logs", instance.id, "--setup"])
    assert result.exit_code == 0
    assert set(result.stdout.splitlines()) == {"preparing data", "oops"}
    service.terminate(instance.id)
    after = runner.invoke(app, ["logs", instance.id, "--setup"])  # the copy saved at READY
    assert set(after.stdout.splitlines()) == {"preparing data", "oops"}


def test_readiness_past_the_timeout_ends_failed_and_destroyed(home, clock):
    settings = Settings(home=home, engine="simulated", ready_timeout_seconds=1)
    service = Provisioner(settings, clock=clock)
    # cloud-init never finishes while the setup script waits for a file nobody creates.
    never = home / "never"
    with pytest.raises(ProvisioningFailedError) as caught:
        service.provision(
            make_request(
                allowed_ssh_cidrs=(LOCAL,),
                setup_script=f"while [ ! -e {never} ]; do sleep 0.1; done\n",
            )
        )
    assert "PROVISIONER_READY_TIMEOUT_SECONDS=1" in caught.value.message
    (instance,) = service.list()
    assert instance.status == "FAILED" and instance.error_code == "TIMEOUT"
    assert instance.terminated_at is not None  # everything it created was destroyed
    assert not sshd_processes(home)
    assert not sim_sshd.existing(home)


def test_allow_ssh_from_me_resolves_this_machines_address(home, monkeypatch):
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"198.51.100.7\n")

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("PROVISIONER_MYIP_URL", f"http://127.0.0.1:{server.server_port}/")
        monkeypatch.setenv("PROVISIONER_ENGINE", "pulumi")  # `me` asks the service only for real
        from provisioner.cli.request_options import build_request

        request = build_request(
            provider="aws",
            instance_type="g4dn.xlarge",
            region=None,
            disk_gb=None,
            ttl=None,
            task=None,
            user=None,
            tag=None,
            purpose=None,
            ssh_key=None,
            allow_ssh_from=["me", "10.0.0.0/8"],
            setup=None,
            idle_minutes=None,
            simulate=False,
        )
        assert request.allowed_ssh_cidrs == ("198.51.100.7/32", "10.0.0.0/8")
    finally:
        server.shutdown()
    port = server.server_port  # closed now: offline
    result = runner.invoke(
        app,
        ["up", "--provider", "aws", "--instance-type", "g4dn.xlarge", "--allow-ssh-from", "me"],
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"error: --allow-ssh-from me: cannot learn this machine's public address from "
        f"http://127.0.0.1:{port}/"
    )


def test_sync_by_rsync_and_by_sftp_copies_the_tree(service, ready, tmp_path, home):
    local = tmp_path / "job"
    (local / "data").mkdir(parents=True)
    (local / "train.py").write_text("print('hi')\n")
    (local / "data" / "x.csv").write_text("a,b\n1,2\n")
    instance = service.ledger.require(ready)
    target = service.ssh_target(instance)
    sandbox_home = home / "simulated-vms" / ready / "sandbox" / "home"
    for method in ("rsync", "sftp"):
        shutil.rmtree(sandbox_home / "provisioner-work", ignore_errors=True)
        dest, used = sync(target, local, method=method)
        assert (dest, used) == ("provisioner-work/job", method)
        copied = sandbox_home / dest
        assert (copied / "train.py").read_text() == "print('hi')\n"
        assert (copied / "data" / "x.csv").read_text() == "a,b\n1,2\n"


def test_the_sweep_removes_key_files_after_the_grace_and_stray_endpoints(service, home):
    instance = service.provision(make_request(allowed_ssh_cidrs=(LOCAL,)))
    done = service.terminate(instance.id)
    assert keys.key_files(home, instance.id)  # kept for the grace period
    assert done.terminated_at is not None
    Reaper(service).sweep()
    assert keys.key_files(home, instance.id)
    later = FakeClock(done.terminated_at + timedelta(minutes=61))
    late = Provisioner(service.settings, clock=later)
    result = Reaper(late).sweep().to_json()
    assert not keys.key_files(home, instance.id)
    assert {
        "kind": "keys",
        "target": instance.id,
        "outcome": "done",
        "detail": "removed 3 key file(s)",
    } in result["actions"]


def test_a_dead_endpoint_of_a_live_vm_comes_back_with_the_same_host_key(service, ready, home):
    folder = home / "simulated-vms" / ready
    sim_sshd.stop_sshd_only(folder)
    assert not sshd_processes(home)
    result = Reaper(service).sweep().to_json()
    assert {
        "kind": "endpoint",
        "target": ready,
        "outcome": "done",
        "detail": "SSH endpoint restarted",
    } in result["actions"]
    assert runner.invoke(app, ["exec", ready, "--", "true"]).exit_code == 0  # same pinned key
