"""The scheduler's shared SSH connection per pool VM (remote/jobrunner.py): its control socket
lives only in a private folder of ours, is named per VM, and is not used when it cannot be."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.remote.jobrunner import mux_options
from provisioner.remote.ssh import SshTarget


def target(instance_id: str) -> SshTarget:
    keys = Path("/home/someone/.provisioner/keys")  # only the file's name matters here
    return SshTarget("127.0.0.1", 2222, "root", keys / f"{instance_id}.known_hosts")


def control_path(options: list[str]) -> str:
    return next(o for o in options if o.startswith("ControlPath=")).removeprefix("ControlPath=")


@pytest.fixture
def temp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temp dir of this test's own (the shared one is never chmod'ed here)."""
    short = Path(tempfile.mkdtemp(prefix="m", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(short))
    yield short
    shutil.rmtree(short)


def test_each_vm_gets_its_own_socket_in_a_private_folder(temp: Path) -> None:
    one = mux_options(target("inst-a"))
    assert "ControlMaster=auto" in one and "ControlPersist=60" in one
    path = control_path(one)
    assert path.endswith("/inst-a-%C")
    assert path != control_path(mux_options(target("inst-b")))
    folder = Path(path).parent
    assert folder.parent == temp and folder.name.startswith("provisioner-mux-")
    assert folder.stat().st_mode & 0o777 == 0o700


def test_a_folder_others_can_open_or_a_too_long_path_means_no_sharing(temp: Path) -> None:
    assert mux_options(target("inst-1")) != []
    folder = next(temp.iterdir())
    folder.chmod(0o777)  # someone else could plant a socket there
    assert mux_options(target("inst-1")) == []
    folder.chmod(0o700)
    assert mux_options(target("inst-1")) != []
    deep = temp / ("d" * 60)
    deep.mkdir()
    tempfile.tempdir = str(deep)
    assert mux_options(target("inst-1")) == []  # the socket path would not fit
