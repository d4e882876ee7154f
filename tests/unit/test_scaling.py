"""The pool scaling decision (rules/scaling.py), exhaustively over small pools."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from provisioner.rules.scaling import Decision, PoolMember, PoolSettings, PoolState, decide

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def member(i: int, state: PoolState, *, age: int = 5, idle: int | None = None) -> PoolMember:
    idle_since = NOW - timedelta(minutes=idle) if idle is not None else None
    if state is PoolState.IDLE and idle_since is None:
        idle_since = NOW
    return PoolMember(f"i{i}", state, NOW - timedelta(minutes=age), idle_since)


def test_an_empty_pool_with_min_one_launches_one():
    assert decide(PoolSettings(1, 3, 10), [], 0, NOW).launch == 1


def test_warming_counts_as_supply_no_over_launch():
    warming = [member(0, PoolState.WARMING), member(1, PoolState.WARMING)]
    assert decide(PoolSettings(0, 5, 10), warming, 2, NOW).launch == 0
    assert decide(PoolSettings(0, 5, 10), warming, 3, NOW).launch == 1


def test_scrubbing_counts_as_supply_no_over_launch_while_a_vm_is_cleaned():
    scrubbing = [member(0, PoolState.SCRUBBING), member(1, PoolState.BUSY)]
    assert decide(PoolSettings(0, 5, 10), scrubbing, 1, NOW).launch == 0
    assert decide(PoolSettings(0, 5, 10), scrubbing, 2, NOW).launch == 1
    # One that (reuse=user) will serve none of the queued jobs is no supply.
    other = PoolMember("i2", PoolState.SCRUBBING, NOW, None, serves_queue=False)
    assert decide(PoolSettings(0, 5, 10), [other], 1, NOW).launch == 1


def test_six_queued_with_one_idle_launches_up_to_max():
    decision = decide(PoolSettings(1, 3, 10), [member(0, PoolState.IDLE)], 6, NOW)
    assert decision.launch == 2 and decision.drain == ()


def test_no_scale_in_while_anything_is_queued():
    idle = [member(0, PoolState.IDLE, idle=60), member(1, PoolState.IDLE, idle=60)]
    assert decide(PoolSettings(0, 3, 10), idle, 1, NOW).drain == ()
    assert set(decide(PoolSettings(0, 3, 10), idle, 0, NOW).drain) == {"i0", "i1"}


def test_scale_in_only_past_the_idle_timeout_and_above_min():
    idle = [member(0, PoolState.IDLE, idle=9), member(1, PoolState.IDLE, idle=11)]
    assert decide(PoolSettings(0, 3, 10), idle, 0, NOW).drain == ("i1",)
    assert decide(PoolSettings(1, 3, 10), idle, 0, NOW).drain == ("i1",)
    assert decide(PoolSettings(2, 3, 10), idle, 0, NOW).drain == ()


def test_longest_idle_goes_first():
    idle = [member(0, PoolState.IDLE, idle=20), member(1, PoolState.IDLE, idle=40)]
    assert decide(PoolSettings(1, 3, 10), idle, 0, NOW).drain == ("i1",)


def test_recycle_at_max_age_and_refill_the_floor():
    old = [member(0, PoolState.IDLE, age=50)]
    decision = decide(PoolSettings(1, 3, 10, max_age_minutes=45), old, 0, NOW)
    assert decision.drain == ("i0",)
    assert decision.launch == 1  # the floor is kept
    busy = [member(0, PoolState.BUSY, age=50)]
    assert decide(PoolSettings(0, 1, 10, max_age_minutes=45), busy, 0, NOW).drain == ("i0",)


def test_draining_instances_still_count_against_max():
    draining = [member(0, PoolState.DRAINING), member(1, PoolState.DRAINING)]
    assert decide(PoolSettings(0, 3, 10), draining, 5, NOW).launch == 1


def test_a_forecast_floor_only_raises_min():
    assert decide(PoolSettings(1, 5, 10), [], 0, NOW, floor=3).launch == 3
    assert decide(PoolSettings(2, 5, 10), [], 0, NOW, floor=0).launch == 2
    assert decide(PoolSettings(0, 2, 10), [], 0, NOW, floor=9).launch == 2  # still <= max
    idle = [member(i, PoolState.IDLE, idle=60) for i in range(3)]
    assert decide(PoolSettings(0, 5, 10), idle, 0, NOW, floor=2).drain == ("i0",)


STATES = list(PoolState)


@pytest.mark.parametrize("minimum,maximum", [(0, 1), (0, 3), (1, 3), (2, 2), (3, 4)])
def test_invariants_over_every_small_pool(minimum, maximum):
    """Every mix of up to `maximum` members in every state, idle or not past the timeout, and
    0..6 queued: never above max, never over-launch, no scale-in with a queue, never below min."""
    settings = PoolSettings(minimum, maximum, 10)
    kinds = [(s, idle) for s in STATES for idle in ((0, 30) if s is PoolState.IDLE else (None,))]
    for size in range(maximum + 1):
        for combo in itertools.combinations_with_replacement(kinds, size):
            members = [member(i, s, idle=idle) for i, (s, idle) in enumerate(combo)]
            for queued in range(7):
                d: Decision = decide(settings, members, queued, NOW)
                assert d.launch >= 0
                assert len(members) + d.launch <= maximum
                supply_states = (
                    PoolState.IDLE,
                    PoolState.WARMING,
                    PoolState.BUSY,
                    PoolState.SCRUBBING,
                )
                staying = [m for m in members if m.state in supply_states]
                idle_or_warming = [  # and scrubbing: IDLE again in a moment
                    m
                    for m in staying
                    if m.state in (PoolState.IDLE, PoolState.WARMING, PoolState.SCRUBBING)
                ]
                assert d.launch <= max(queued - len(idle_or_warming), minimum - len(staying), 0)
                if queued:
                    assert d.drain == ()
                drained_idle = [m for m in members if m.id in d.drain]
                assert all(m.state is PoolState.IDLE for m in drained_idle)
                assert len(staying) - len(d.drain) + d.launch >= min(minimum, len(staying))


def test_an_idle_vm_no_queued_job_may_use_is_no_supply_and_is_replaced_at_max():
    taken = PoolMember("i0", PoolState.IDLE, NOW - timedelta(minutes=5), NOW, serves_queue=False)
    assert decide(PoolSettings(0, 2, 10), [taken], 1, NOW).launch == 1
    at_max = decide(PoolSettings(0, 1, 10), [taken], 1, NOW)
    assert at_max.launch == 0 and at_max.drain == ("i0",)
