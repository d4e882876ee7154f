"""What one stack per VM costs the orphan sweep, and what `provisioner gc` gives back (#13).

A ledger and a (simulated) backend hold N instances destroyed long ago, each with its empty
stack. The orphan sweep lists every stack every interval; this prints its time at N destroyed
stacks before gc, the gc run itself, and the sweep after gc, for a few N (the "after" column
should stay flat). The simulated backend lists stacks as `pulumi stack ls` does a file://
backend: one state file read per stack.

Usage: .venv/bin/python bench/gc_orphan_sweep.py [--sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session

from provisioner.config import Settings
from provisioner.ledger.models import Instance, InstanceEvent
from provisioner.ops.gc import collect
from provisioner.ops.reap_orphans import orphans
from provisioner.ops.reaper import Reaper, SweepResult
from provisioner.ops.service import Provisioner


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def seed(service: Provisioner, settings: Settings, n: int, ended: datetime) -> None:
    """N TERMINATED rows (3 events each) and N empty simulated stacks, written directly."""
    stacks = settings.home / "simulated-stacks"
    stacks.mkdir(parents=True, exist_ok=True)
    with Session(service.ledger.engine) as session:
        for i in range(n):
            instance_id = f"inst-bench{i:06d}"
            created = ended - timedelta(hours=1)
            session.add(
                Instance(
                    id=instance_id, user_id="bench", provider="AWS", instance_type="g4dn.xlarge",
                    region="us-east-1", status="TERMINATED", disk_size_gb=50,
                    auto_terminate_minutes=60, cost_per_hour=Decimal("0.526"),
                    storage_price_gb_month=Decimal("0.2"), tags={}, meta={},
                    allowed_ssh_cidrs=[], engine="simulated", stack_name=instance_id,
                    created_at=created, expires_at=ended, hard_deadline=ended,
                    terminated_at=ended, updated_at=ended,
                )
            )  # fmt: skip
            for status in ("PROVISIONING", "READY", "TERMINATED"):
                session.add(
                    InstanceEvent(
                        instance_id=instance_id,
                        type="instance:" + status.lower(),
                        status=status,
                        at=ended,
                        detail="bench",
                    )
                )
            (stacks / f"{instance_id}.json").write_text(
                json.dumps(
                    {
                        "name": instance_id,
                        "resources": [],
                        "outputs": {},
                        "tags": {"provisioner:instance-id": instance_id},
                        "lastUpdate": ended.isoformat(),
                    }
                )
            )
        session.commit()


def orphan_sweep_ms(reaper: Reaper, clock: Clock) -> float:
    best = float("inf")
    for _ in range(3):
        result = SweepResult(at=clock())
        started = time.perf_counter()
        orphans(reaper, result)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    print(f"{'destroyed stacks':>17} {'sweep before gc':>16} {'gc run':>10} {'sweep after gc':>15}")
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as home:
            clock = Clock()
            settings = Settings(home=Path(home), engine="simulated")
            service = Provisioner(settings, clock=clock)
            seed(service, settings, n, clock.now - timedelta(days=40))
            reaper = Reaper(service)
            before = orphan_sweep_ms(reaper, clock)
            started = time.perf_counter()
            result = collect(service, older_than=timedelta(days=30))
            gc_seconds = time.perf_counter() - started
            after = orphan_sweep_ms(reaper, clock)
            assert result.collected == n and result.stacks_removed == n, result.to_json()
            print(f"{n:>17} {before:>13.0f} ms {gc_seconds:>8.1f} s {after:>12.1f} ms")
            service.ledger.dispose()


if __name__ == "__main__":
    main()
