"""The deadman script: its time math, run for real under /bin/sh with a fake clock."""

from __future__ import annotations

import shutil
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stacks import deadman

DEADLINE = "2025-06-01T15:45:00Z"
EPOCH = int(datetime(2025, 6, 1, 15, 45, tzinfo=UTC).timestamp())

SH = shutil.which("sh") or "/bin/sh"

pytestmark = pytest.mark.skipif(not Path(SH).exists(), reason="needs a POSIX shell")


def fake_bin(tmp_path: Path, now: int) -> Path:
    """A bin dir whose `date` says `now` and whose `shutdown` records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "shutdown.args"
    scripts = {
        "date": f"#!/bin/sh\necho {now}\n",
        "shutdown": f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n',
    }
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def run_check(tmp_path: Path, now: int, deadline: str = DEADLINE) -> list[str]:
    script = tmp_path / "check"
    script.write_text(deadman.check_script(deadline))
    bin_dir = fake_bin(tmp_path, now)
    subprocess.run([SH, str(script)], check=True, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    return (tmp_path / "shutdown.args").read_text().splitlines()


@pytest.mark.parametrize(
    ("seconds_left", "minutes"),
    [
        (3600, 60),  # an hour left
        (3599, 59),  # floored: fires at or before the deadline, never after
        (4 * 3600, 240),
        (90, 1),
        (30, 1),  # under a minute: soonest possible
        (0, 1),
        (-3600, 1),  # already past (e.g. a reboot after the deadline): soon, not never
    ],
)
def test_shutdown_is_scheduled_for_the_minutes_left(tmp_path, seconds_left, minutes):
    args = run_check(tmp_path, now=EPOCH - seconds_left)
    assert args[:2] == ["-h", f"+{minutes}"]
    assert "2025-06-01T15:45:00Z" in args[2]


def test_the_deadline_is_rendered_in_utc(tmp_path):
    args = run_check(tmp_path, now=EPOCH - 600, deadline="2025-06-01T17:45:00+02:00")
    assert args[:2] == ["-h", "+10"]
    assert "2025-06-01T15:45:00Z" in args[2]


def test_script_carries_the_deadline_epoch():
    assert f"deadline={EPOCH}\n" in deadman.check_script(DEADLINE)
    assert f"deadline={EPOCH}\n" in deadman.shutdown_script(DEADLINE)


def test_naive_or_garbage_deadlines_are_refused():
    with pytest.raises(ValueError, match="UTC offset"):
        deadman.shutdown_script("2025-06-01T15:45:00")
    with pytest.raises(ValueError):
        deadman.shutdown_script("tomorrow; reboot")


def test_deadline_hhmm():
    assert deadman.deadline_hhmm("2025-06-01T09:05:59Z") == "0905"
    assert deadman.deadline_hhmm("2025-06-01T01:30:00+02:00") == "2330"


def test_boot_script_installs_the_check_and_arms_it(tmp_path, monkeypatch):
    """The whole user-data script, run with its install path redirected and no systemctl."""
    monkeypatch.setattr(deadman, "CHECK_PATH", str(tmp_path / "provisioner-deadman"))
    script = tmp_path / "user-data"
    script.write_text(deadman.shutdown_script(DEADLINE))
    bin_dir = fake_bin(tmp_path, now=EPOCH - 7200)
    for tool in ("cat", "chmod"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    subprocess.run([SH, str(script)], check=True, env={"PATH": str(bin_dir)})
    installed = tmp_path / "provisioner-deadman"
    assert installed.read_text() == deadman.check_script(DEADLINE)
    assert installed.stat().st_mode & stat.S_IXUSR
    assert (tmp_path / "shutdown.args").read_text().splitlines()[:2] == ["-h", "+120"]


def test_boot_script_is_valid_shell_with_a_reboot_hook():
    script = deadman.shutdown_script(DEADLINE)
    subprocess.run([SH, "-n"], input=script, text=True, check=True)
    assert "systemctl enable provisioner-deadman.service" in script
    assert "WantedBy=multi-user.target" in script
    assert f"ExecStart={deadman.CHECK_PATH}" in script
