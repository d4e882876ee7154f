"""Moves the wall clock of a Python process started by the tests (CLI runs, `provisioner serve`,
replicas) by PROVISIONER_TEST_DATE_SHIFT_DAYS, as tests/conftest.py does in-process.

The test harness puts this directory on PYTHONPATH only for the shifted run; Python imports
`sitecustomize` at start-up. time-machine moves time.time, datetime.now and friends and leaves
the monotonic clock alone, so timed waits and sleeps in threads keep working.
"""

from __future__ import annotations

import os

from clockshift_travel import start_shift

start_shift(os.environ.get("PROVISIONER_TEST_DATE_SHIFT_DAYS"))
