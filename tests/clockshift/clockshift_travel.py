"""The one definition of the test suite's date shift (tests/conftest.py and sitecustomize.py)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
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
    _keep_grpc_on_the_real_clock()
    return target


# gRPC's Cython core turns `time.time()` into absolute CLOCK_REALTIME deadlines for its C polls
# (`Server.start` polls with `deadline=time.time()`); with the Python clock a year ahead and the C
# clock not, the Pulumi Automation API's language server waits a year. gRPC is transport, not
# code under test, so it keeps the real wall clock: its module global `time` becomes the real one.
_GRPC_CORE = "grpc._cython.cygrpc"


def _real_time_module() -> types.ModuleType:
    import time

    import time_machine

    real = types.ModuleType("time")
    real.__dict__.update(vars(time))
    real.time = time_machine.escape_hatch.time.time  # type: ignore[attr-defined]
    real.time_ns = time_machine.escape_hatch.time.time_ns  # type: ignore[attr-defined]
    return real


def _patch_grpc(module: types.ModuleType) -> None:
    module.time = _real_time_module()  # type: ignore[attr-defined]


class _GrpcClockFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != _GRPC_CORE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: types.ModuleType) -> None:
            original_exec(module)
            _patch_grpc(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _keep_grpc_on_the_real_clock() -> None:
    if _GRPC_CORE in sys.modules:
        _patch_grpc(sys.modules[_GRPC_CORE])
    else:
        sys.meta_path.insert(0, _GrpcClockFinder())
