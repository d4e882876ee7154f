"""A generated job history recorded as job rows (#23): the forecast tests' fixture."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from provisioner.ledger.pool_models import Job
from provisioner.rules.synthetic_demand import weekday_peak


def record_history(service, pool, start: datetime, *, weeks: float, rate: float = 12) -> int:
    """The generated jobs as SUCCEEDED job rows (each waited 20 s for its VM)."""
    rows = []
    for n, job in enumerate(weekday_peak(start, weeks=weeks, peak_rate=rate)):
        started = job.arrival + timedelta(seconds=20)
        rows.append(
            Job(
                id=f"job-hist{n:06d}",
                pool_id=pool.id,
                user_id="alice",
                command="python3 task.py",
                status="SUCCEEDED",
                attempt=1,
                exit_code=0,
                created_at=job.arrival,
                started_at=started,
                ended_at=started + job.runtime,
                updated_at=started + job.runtime,
            )
        )
    with Session(service.ledger.engine) as session:
        session.add_all(rows)
        session.commit()
    return len(rows)
