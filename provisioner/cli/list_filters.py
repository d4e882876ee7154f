"""`list --status A --status B`, `--task T`, `--live` (#27): the filters the plain listing's
paged queries do not take, read with the ledger's filtered list (newest first). Kept apart from
`list`'s fast path: a single --status (or none) never comes here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.ledger.models import InstanceOut
    from provisioner.ops.service import Provisioner
    from provisioner.rules.lifecycle import Status


def parse_statuses(typed: list[str] | None) -> list[Status]:
    """Each --status, also comma-separated (`--status READY,RUNNING`); bad input names it."""
    from provisioner.rules.lifecycle import parse_status

    found: list[Status] = []
    for item in typed or []:
        for part in item.split(","):
            status = parse_status(part.strip())
            if status not in found:
                found.append(status)
    return found


def filtered(
    service: Provisioner,
    *,
    user: str | None,
    statuses: list[Status],
    task: str | None,
    live: bool,
    since: datetime | None,
    limit: int | None,
) -> tuple[list[InstanceOut], int]:
    """(the newest `limit` matches, how many match in all)."""
    from provisioner.rules.lifecycle import FINAL, Status

    wanted = list(statuses) or list(Status)
    if live:
        wanted = [s for s in wanted if s not in FINAL]
    if not wanted:
        return [], 0
    rows = service.ledger.list(user_id=user, statuses=wanted, task_id=task)
    if since is not None:
        rows = [r for r in rows if _aware(r.created_at) >= since]
    total = len(rows)
    shown = rows if limit is None else rows[:limit]
    return [service.to_out(r) for r in shown], total


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
