"""#27: results come back. `run --workdir job` (gitignored files stay here), then
`cp ID:out/ ./out` brings what the job wrote; `cp LOCAL ID:PATH` sends files; the SFTP fallback
copies the same way; and the issue's whole `run ... --down` line as a user types it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from remote.conftest import cli, needs_sshd
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.config import Settings
from provisioner.engine.simulated.engine import SimulatedEngine
from provisioner.ops.service import Provisioner
from provisioner.remote import copy

pytestmark = needs_sshd
runner = CliRunner()
SAFETY = 300  # seconds: only so a broken build fails instead of hanging; never asserted on

JOB = """\
import os, pathlib
seen = sorted(
    os.path.relpath(os.path.join(d, f), ".") for d, _, fs in os.walk(".") for f in fs
)
print("FILES " + " ".join(seen))
out = pathlib.Path("out")
(out / "deep").mkdir(parents=True, exist_ok=True)
(out / "result.txt").write_text("loss 0.125\\n")
(out / "deep" / "weights.txt").write_text("w\\n")
"""


def make_job(root: Path) -> Path:
    job = root / "job"
    (job / ".git").mkdir(parents=True)
    (job / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (job / "data").mkdir()
    (job / "data" / "big.bin").write_bytes(b"\1" * 4096)
    (job / "data" / "labels.csv").write_text("a\n")
    (job / ".gitignore").write_text("data/big.bin\n")
    (job / "t.py").write_text(JOB)
    return job


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    make_job(tmp_path)
    process = cli(
        "run",
        *args,
        "--workdir",
        "job",
        "--",
        "python3",
        "t.py",
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = process.communicate(timeout=SAFETY)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def files_line(stdout: str) -> set[str]:
    line = next(x for x in stdout.splitlines() if x.startswith("FILES "))
    return set(line.split()[1:])


def test_cp_brings_a_jobs_results_back_and_sends_files(tmp_path, home):
    done = run_cli(tmp_path, "--simulate", "--provider", "aws", "--instance-type", "g4dn.xlarge")
    assert done.returncode == 0, done.stderr
    assert files_line(done.stdout) == {".gitignore", "data/labels.csv", "t.py"}
    # The default TTL is said, with what it means for a long command (#27).
    assert "auto-terminate 60 min, the default): a command still running then is cut off" in (
        " ".join(done.stderr.split())
    )
    service = Provisioner(Settings(home=home, engine="simulated"))
    (instance,) = service.list()
    try:
        prefix = instance.id[: len(instance.id) - 4]  # a unique prefix names it
        back = tmp_path / "out"
        result = runner.invoke(app, ["cp", f"{prefix}:out/", str(back)])
        assert result.exit_code == 0, result.output
        assert (back / "result.txt").read_text() == "loss 0.125\n"
        assert (back / "deep" / "weights.txt").read_text() == "w\n"
        assert "(rsync)" in result.stdout

        # Without the trailing slash the folder itself comes, into an existing folder.
        (tmp_path / "results").mkdir()
        result = runner.invoke(app, ["cp", f"{instance.id}:out", str(tmp_path / "results")])
        assert result.exit_code == 0, result.output
        assert (tmp_path / "results" / "out" / "result.txt").read_text() == "loss 0.125\n"

        # Up: a local folder's contents to a path relative to the job's folder.
        extra = tmp_path / "extra"
        extra.mkdir()
        (extra / "more.csv").write_text("b\n")
        result = runner.invoke(app, ["cp", f"{extra}/", f"{prefix}:inputs/more"])
        assert result.exit_code == 0, result.output
        vm_job = home / "simulated-vms" / instance.id / "sandbox" / "home" / "provisioner-work"
        assert (vm_job / "job" / "inputs" / "more" / "more.csv").read_text() == "b\n"

        # The SFTP fallback follows the same trailing-slash rule.
        target = service.ssh_target(service.ledger.require(instance.id))
        by_sftp = tmp_path / "sftp-out"
        assert copy.download(target, "provisioner-work/job/out/", by_sftp, method="sftp") == "sftp"
        assert (by_sftp / "result.txt").read_text() == "loss 0.125\n"
        assert (by_sftp / "deep" / "weights.txt").read_text() == "w\n"
        assert copy.upload(target, f"{extra}/", "from-sftp", method="sftp") == "sftp"
        assert (vm_job.parent / "from-sftp" / "more.csv").read_text() == "b\n"
    finally:
        service.terminate(instance.id)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["./a", "./b"], "cp takes exactly one ID:PATH"),
        (["inst-nope:out/", "./out"], "Instance inst-nope not found"),
    ],
)
def test_cp_bad_input_is_one_line_and_exit_2(home, args, message):
    result = runner.invoke(app, ["cp", *args])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert message in result.stderr


def test_the_issues_run_line_works_skips_gitignored_files_and_leaves_nothing(tmp_path, home):
    done = run_cli(
        tmp_path,
        "--simulate",
        "--provider",
        "any",
        "--gpu",
        "T4:1",
        "--spot",
        "--regions",
        "us-east-1,us-west-2",
        "--down",
    )
    assert done.returncode == 0, done.stderr
    assert files_line(done.stdout) == {".gitignore", "data/labels.csv", "t.py"}
    service = Provisioner(Settings(home=home, engine="simulated"))
    (instance,) = service.list()
    shown = json.loads(runner.invoke(app, ["show", instance.id, "--json"]).stdout)["instance"]
    assert shown["status"] == "TERMINATED"
    assert shown["region"] in ("us-east-1", "us-west-2") and shown["spot"] is True
    assert {s.resource_count for s in SimulatedEngine(service.settings).list_stacks()} == {0}
