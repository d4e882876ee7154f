"""Pool and job lines for `cost-report` (#22): per pool, what its jobs cost and its owner's
overhead (warm-up, idle, scrub, billing minimums), which sum exactly to its instances' cost
(ops/job_costs.py). Since each pool was created, not the report's window: a job's cost is known
only as a share of its VM's whole bill."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from provisioner.ledger import jobs as job_rows
from provisioner.ledger import pools as pool_rows
from provisioner.ops.job_costs import pool_cost

if TYPE_CHECKING:
    from provisioner.ops.service import Provisioner


def pool_lines(service: Provisioner, *, user_id: str | None = None) -> list[dict[str, Any]]:
    """One line per pool (deleted ones too, they billed). With `user_id`: the pools that user
    owns or ran jobs on; `jobs`/`jobsCost` count only their jobs, and `overhead`/`total` are
    shown only for pools they own (None otherwise: another owner's overhead is not theirs)."""
    lines = []
    for pool in pool_rows.list_pools(service.ledger, include_deleted=True):
        cost = pool_cost(service, pool)
        jobs = job_rows.list_jobs(service.ledger, pool_id=pool.id, user_id=user_id)
        owner = user_id is None or pool.user_id == user_id
        if not owner and not jobs:
            continue
        mine = [j for j in jobs if j.id in cost.jobs]
        jobs_cost = sum((cost.jobs[j.id] for j in mine), Decimal(0))
        lines.append(
            {
                "pool": pool.name,
                "owner": pool.user_id,
                "status": pool.status,
                "jobs": len(jobs),
                "jobsCost": float(jobs_cost),
                "overhead": float(cost.overhead) if owner else None,
                "total": float(cost.instances) if owner else None,
            }
        )
    return lines
