"""A pool's forecast schedule in the sweep (#23), on the simulated engine with an injected clock:
the floor launches warm VMs in the working hours the history says are busy, holds them past the
idle timeout there, and never keeps them at night (the schedule only raises the floor)."""

from __future__ import annotations

from datetime import timedelta

from demand_history import record_history
from factories import make_request
from remote.conftest import LOCAL, needs_sshd

from provisioner.ledger import pools as pool_rows
from provisioner.ops.forecast_service import set_schedule
from provisioner.ops.pools_service import create_pool
from provisioner.ops.scheduler import Scheduler
from provisioner.rules.demand import floor_hour

pytestmark = needs_sshd


def live(service, pool):
    return [m for m in pool_rows.members(service.ledger, pool.id) if m.pool_state is not None]


def test_the_sweep_keeps_the_schedule_warm_by_day_and_lets_it_go_at_night(service, clock):
    request = make_request(allowed_ssh_cidrs=(LOCAL,), auto_terminate_minutes=120)
    pool = create_pool(service, "t4", request, minimum=0, maximum=2, idle_minutes=10)
    record_history(service, pool, floor_hour(clock.now) - timedelta(weeks=4), weeks=4)
    assert set_schedule(service, "t4", "auto").startswith("schedule auto: up to 2 warm")
    day = floor_hour(clock.now).replace(hour=10, minute=30) + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    clock.now = day
    scheduler = Scheduler(service)
    scheduler.sweep()
    scheduler.sweep()
    assert [m.pool_state for m in live(service, pool)] == ["IDLE", "IDLE"]
    assert pool_rows.find_pool(service.ledger, "t4").min == 0  # type: ignore[union-attr]
    clock.advance(minutes=30)  # idle past the timeout, but the floor holds them
    scheduler.sweep()
    assert len(live(service, pool)) == 2
    clock.now = day.replace(hour=2) + timedelta(days=1)  # the night: floor 0, idle 15 h
    scheduler.sweep()
    assert live(service, pool) == []
