"""`events ID --follow` (#27): the ledger's events as they are written, one line each (a JSON
object a line with --json), until the instance has ended."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.ops.service import Provisioner

PAUSE = 0.5  # seconds between reads of the ledger


def archived_in(home: Path, instance_id: str) -> Path | None:
    """The `gc` archive file holding the instance's events (ledger/archive.py), if any."""
    needle = f'"instanceId": "{instance_id}"'
    for path in sorted((home / "archive").glob("events-*.jsonl"), reverse=True):
        with path.open(encoding="utf-8") as handle:
            if any(needle in line for line in handle):
                return path
    return None


def follow(
    service: Provisioner,
    instance_id: str,
    *,
    json_output: bool,
    pause: float = PAUSE,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    from provisioner.cli.render import inert, when
    from provisioner.rules.lifecycle import FINAL, Status

    seen = 0
    while True:
        # The status first: every event written before it ended is read after.
        ended = Status(service.ledger.require(instance_id).status) in FINAL
        rows = [e.to_json() for e in service.events(instance_id)]
        for e in rows[seen:]:
            if json_output:
                print(json.dumps(e))
            else:
                detail = f"  {inert(e['detail'])}" if e["detail"] else ""
                print(f"{when(e['at'])}  {inert(e['type'])}  {inert(e['status'])}{detail}")
        sys.stdout.flush()
        seen = len(rows)
        if ended:
            return
        sleep(pause)
