"""Observed spot preemptions per provider/region/type (#23), for the expected cost in `offers`.

A sample is a spot VM that landed (an attempt with outcome `landed`); a preemption is an
`instance:preempted` event, charged to that instance's newest spot attempt landed before it."""

from __future__ import annotations

from collections import Counter

from sqlmodel import Session, col, select

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import InstanceAttempt, InstanceEvent

Key = tuple[str, str, str]  # provider, region, instance type


def spot_history(ledger: Ledger) -> dict[Key, tuple[int, int]]:
    """(preemptions, samples) per (provider, region, instance type) with any spot sample."""
    attempts_query = (
        select(InstanceAttempt)
        .where(col(InstanceAttempt.spot).is_(True), InstanceAttempt.outcome == "landed")
        .order_by(col(InstanceAttempt.started_at))
    )
    events_query = select(InstanceEvent).where(InstanceEvent.type == "instance:preempted")
    with Session(ledger.engine) as session:
        attempts = list(session.exec(attempts_query).all())
        events = list(session.exec(events_query).all())
    samples: Counter[Key] = Counter()
    by_instance: dict[str, list[InstanceAttempt]] = {}
    for a in attempts:
        samples[(a.provider, a.region, a.instance_type)] += 1
        by_instance.setdefault(a.instance_id, []).append(a)
    preempted: Counter[Key] = Counter()
    for e in events:
        before = [a for a in by_instance.get(e.instance_id, []) if a.started_at <= e.at]
        if before:
            a = before[-1]
            preempted[(a.provider, a.region, a.instance_type)] += 1
    return {key: (min(preempted[key], n), n) for key, n in samples.items()}
