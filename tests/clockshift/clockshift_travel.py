"""The one definition of the test suite's date shift (tests/conftest.py and sitecustomize.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ENV = "PROVISIONER_TEST_DATE_SHIFT_DAYS"
DIRECTORY = Path(__file__).parent
_started: list[Any] = []


def shift_days(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        raise SystemExit(f"{ENV} must be a whole number of days (got {value!r})") from None


def start_shift(value: str | None) -> datetime | None:
    """Moves this process's wall clock `value` days ahead (ticking); returns the new now."""
    days = shift_days(value)
    if not days or _started:
        return None
    import time_machine

    target = datetime.now(UTC) + timedelta(days=days)
    traveller = time_machine.travel(target, tick=True)
    traveller.start()
    _started.append(traveller)
    return target
