"""Cost per job (#22): an instance's cost split over its usage segments by length, exactly to the
micro-dollar (rules/jobs.py split_cost); job segments are the jobs' cost, the rest (warm-up, idle,
scrub, drain, and whatever the billing rule adds, e.g. minimums, disk) is the pool's overhead."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from provisioner.ledger import pools as pool_rows
from provisioner.ledger.segments import segments_of
from provisioner.rules.jobs import split_cost

if TYPE_CHECKING:
    from provisioner.ledger.pool_models import Pool
    from provisioner.ops.service import Provisioner


@dataclass
class PoolCost:
    instances: Decimal = Decimal(0)  # the pool's instances' cost (ended: frozen; live: so far)
    jobs: dict[str, Decimal] = field(default_factory=dict)
    overhead: Decimal = Decimal(0)
    by_kind: dict[str, Decimal] = field(default_factory=dict)


def pool_cost(service: Provisioner, pool: Pool) -> PoolCost:
    result = PoolCost()
    jobs: defaultdict[str, Decimal] = defaultdict(Decimal)
    kinds: defaultdict[str, Decimal] = defaultdict(Decimal)
    instances = pool_rows.members(service.ledger, pool.id, ended=True)
    segments = segments_of(service.ledger, [i.id for i in instances])
    by_instance = defaultdict(list)
    for segment in segments:
        by_instance[segment.instance_id].append(segment)
    now = service.clock()
    for instance in instances:
        total = service._cost(instance)
        result.instances += total
        parts = by_instance.get(instance.id, [])
        if not parts:
            result.overhead += total
            continue
        end = instance.terminated_at or now
        weights = [
            max(0, int(((s.ended_at or end) - s.started_at).total_seconds() * 1_000_000))
            for s in parts
        ]
        for segment, share in zip(parts, split_cost(total, weights), strict=True):
            kinds[segment.kind] += share
            if segment.kind == "job" and segment.job_id is not None:
                jobs[segment.job_id] += share
            else:
                result.overhead += share
    result.jobs = dict(jobs)
    result.by_kind = dict(kinds)
    return result
