"""#27: a workdir upload leaves out `.git/` and what `.gitignore` / `.provisionerignore` exclude,
by rsync, by sftp, and in a pool job's packed workdir (one list for all three)."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest
from factories import make_request
from remote.conftest import LOCAL, needs_sshd

from provisioner.ops.pools_service import pack_workdir
from provisioner.remote.sync import sync
from provisioner.remote.workdir_files import workdir_files


def make_workdir(root: Path) -> Path:
    job = root / "job"
    (job / ".git" / "objects").mkdir(parents=True)
    (job / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (job / ".git" / "objects" / "ab").write_bytes(b"\0" * 64)
    (job / "data").mkdir()
    (job / "data" / "big.bin").write_bytes(b"\1" * 4096)
    (job / "data" / "small.csv").write_text("a,b\n")
    (job / "src" / "cache").mkdir(parents=True)
    (job / "src" / "model.py").write_text("x = 1\n")
    (job / "src" / "cache" / "tmp.pyc").write_bytes(b"pyc")
    (job / "src" / ".gitignore").write_text("cache/\n")
    (job / "notes.log").write_text("local notes\n")
    (job / "t.py").write_text("print('hi')\n")
    (job / ".gitignore").write_text("data/big.bin\n*.log\n")
    (job / ".provisionerignore").write_text("!notes.log\n")
    return job


KEPT = {
    ".gitignore",
    ".provisionerignore",
    "data",
    "data/small.csv",
    "notes.log",  # ignored by git, brought back by .provisionerignore's `!notes.log`
    "src",
    "src/.gitignore",
    "src/model.py",
    "t.py",
}


def test_the_list_follows_git_rules_and_never_holds_dot_git(tmp_path):
    job = make_workdir(tmp_path)
    assert set(workdir_files(job)) == KEPT


def test_a_pool_jobs_packed_workdir_holds_the_same_list(tmp_path):
    job = make_workdir(tmp_path)
    data = pack_workdir(job, 10 * 1024 * 1024)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert names == KEPT


def test_an_ignored_big_file_does_not_count_against_the_limit(tmp_path):
    job = make_workdir(tmp_path)
    (job / "data" / "big.bin").write_bytes(b"\1" * 200_000)
    assert pack_workdir(job, 100_000)  # the 200 kB file is ignored: no refusal


@needs_sshd
@pytest.mark.parametrize("method", ["rsync", "sftp"])
def test_neither_git_nor_a_gitignored_file_arrives_on_the_vm(service, home, tmp_path, method):
    instance = service.provision(make_request(allowed_ssh_cidrs=(LOCAL,)))
    try:
        job = make_workdir(tmp_path)
        target = service.ssh_target(service.ledger.require(instance.id))
        dest, used = sync(target, job, method=method)
        assert used == method
        copied = home / "simulated-vms" / instance.id / "sandbox" / "home" / dest
        arrived = {p.relative_to(copied).as_posix() for p in copied.rglob("*")}
        assert arrived == KEPT
        assert (copied / "t.py").read_text() == "print('hi')\n"
        # A second sync after a local change copies it and leaves the VM's own files alone.
        # (a new size: rsync's quick check skips a same-size file changed in the same second)
        (job / "t.py").write_text("print('version 2')\n")
        (copied / "out").mkdir()
        (copied / "out" / "result.txt").write_text("42\n")
        sync(target, job, method=method)
        assert (copied / "t.py").read_text() == "print('version 2')\n"
        assert (copied / "out" / "result.txt").read_text() == "42\n"
        shutil.rmtree(copied)
    finally:
        service.terminate(instance.id)
