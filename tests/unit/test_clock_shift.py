"""The test harness's date shift reaches the Python subprocesses tests start (CLI runs, `serve`,
replicas): tests/clockshift/sitecustomize.py moves their wall clock, not their monotonic clock, so
timed waits in threads still work."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

CLOCKSHIFT = Path(__file__).parents[1] / "clockshift"
CHILD = """
import threading, time
from datetime import UTC, datetime
event = threading.Event()
started = time.monotonic()
threading.Thread(target=lambda: (time.sleep(0.05), event.set())).start()
assert event.wait(10), "a timed wait in a thread hung"
time.sleep(0.01)
print(datetime.now(UTC).isoformat(), time.monotonic() - started < 10)
"""


def _child_now(days: int) -> tuple[datetime, str]:
    env = {
        **os.environ,
        "PROVISIONER_TEST_DATE_SHIFT_DAYS": str(days),
        "PYTHONPATH": os.pathsep.join([str(CLOCKSHIFT), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return datetime.fromisoformat(out[0]), out[1]


def test_a_subprocess_runs_a_year_ahead_and_its_waits_still_work():
    # This process may itself be shifted (the second CI run); compare against its own shift.
    ours = int(os.environ.get("PROVISIONER_TEST_DATE_SHIFT_DAYS") or 0)
    child, waited = _child_now(365)
    ahead = (child - datetime.now(UTC)).total_seconds() / 86400
    assert abs(ahead - (365 - ours)) < 1
    assert waited == "True"


def test_without_the_variable_nothing_moves():
    child, _ = _child_now(0)
    ours = int(os.environ.get("PROVISIONER_TEST_DATE_SHIFT_DAYS") or 0)
    assert abs((child - datetime.now(UTC)).total_seconds() / 86400 + ours) < 1
