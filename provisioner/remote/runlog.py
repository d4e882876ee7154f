"""Saved output of `exec`/`run` under <home>/runs/<instance-id>/: NNN.log holds the combined
output as it streamed, NNN.json the command, start, end and exit code. `setup.log` is the setup
script's output fetched from the VM once it was ready."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO


def runs_dir(home: Path, instance_id: str) -> Path:
    return home / "runs" / instance_id


def setup_log_path(home: Path, instance_id: str) -> Path:
    return runs_dir(home, instance_id) / "setup.log"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunLog:
    """One run's log file; a binary sink (write/flush) shared by the stdout and stderr pumps."""

    def __init__(
        self, home: Path, instance_id: str, command: str, kind: str, workdir: str | None = None
    ):
        folder = runs_dir(home, instance_id)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        number = 1 + max((int(p.stem) for p in folder.glob("[0-9]*.json")), default=0)
        self.number = number
        self.log_path = folder / f"{number:03d}.log"
        self.meta_path = folder / f"{number:03d}.json"
        self.meta: dict[str, Any] = {
            "instanceId": instance_id,
            "run": number,
            "kind": kind,
            "command": command,
            "startedAt": _now(),
            "endedAt": None,
            "exitCode": None,
        }
        if workdir is not None:  # where it ran: `cp ID:out/ ./out` starts there (#27)
            self.meta["workdir"] = workdir
        self._write_meta()
        self._lock = threading.Lock()
        self._file = self.log_path.open("ab")

    def _write_meta(self) -> None:
        tmp = self.meta_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.meta, indent=2))
        os.replace(tmp, self.meta_path)

    def write(self, chunk: bytes) -> int:
        with self._lock:
            written = self._file.write(chunk)
            self._file.flush()
            return written

    def flush(self) -> None:
        return None

    def finish(self, exit_code: int | None, note: str | None = None) -> None:
        self._file.close()
        self.meta.update(endedAt=_now(), exitCode=exit_code)
        if note:
            self.meta["note"] = note
        self._write_meta()


def last_workdir(home: Path, instance_id: str) -> str | None:
    """The folder (relative to the login home) the latest `run --workdir` ran in, if any."""
    for record in reversed(runs(home, instance_id)):
        if record.get("workdir"):
            return str(record["workdir"])
    return None


def runs(home: Path, instance_id: str) -> list[dict[str, Any]]:
    folder = runs_dir(home, instance_id)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("[0-9]*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return found


def replay(
    home: Path,
    instance_id: str,
    sink: BinaryIO,
    *,
    run: int | None = None,
    follow: bool = False,
    pause: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any] | None:
    """Copy a run's saved output (the latest by default) to `sink`; with `follow`, keep copying
    until the run has ended. Returns the run's record, None when there is none."""
    records = runs(home, instance_id)
    if run is not None:
        records = [r for r in records if r.get("run") == run]
    if not records:
        return None
    record = records[-1]
    folder = runs_dir(home, instance_id)
    log_path = folder / f"{record['run']:03d}.log"
    meta_path = folder / f"{record['run']:03d}.json"
    with log_path.open("rb") as handle:
        while True:
            chunk = handle.read(65536)
            if chunk:
                sink.write(chunk)
                sink.flush()
                continue
            if not follow:
                break
            record = json.loads(meta_path.read_text())
            if record.get("endedAt") is not None:
                rest = handle.read()
                if rest:
                    sink.write(rest)
                    sink.flush()
                break
            sleep(pause)
    return record
