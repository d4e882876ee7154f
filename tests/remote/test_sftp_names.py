"""The sftp fallback never lets a file name reach a shell (#26)."""

from __future__ import annotations

import pytest


def test_the_sftp_fallback_refuses_a_file_name_with_a_newline(tmp_path):
    """`mkdir "$(printf 'd\\n!touch X #')"` must never run `touch X` on this machine (#26)."""
    from provisioner.remote.ssh import RemoteError, SshTarget
    from provisioner.remote.sync import _sftp

    work = tmp_path / "work"
    (work / "d\n!touch X #").mkdir(parents=True)
    target = SshTarget.__new__(SshTarget)
    with pytest.raises(RemoteError, match="newline"):
        _sftp(target, work, "provisioner-work/work")
    assert not (tmp_path / "X").exists()
