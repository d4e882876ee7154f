"""`offers --gpu T4:1 --spot` (#23): the expected cost of a spot offer from the preemptions this
ledger observed per provider/region/type, with the rate and its sample count; the bare price,
said so, where there is no history. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.ledger.models import Instance, InstanceAttempt, InstanceEvent

runner = CliRunner(env={"COLUMNS": "200"})  # the whole table, unwrapped


def offers() -> list[dict]:
    shown = runner.invoke(app, ["offers", "--gpu", "T4:1", "--spot", "--json", "--provider", "aws"])
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.output)["offers"]


def spot_vm(service, n: int, *, preempted: bool) -> None:
    now = service.clock()
    instance = Instance(
        id=f"inst-spot{n:04d}",
        user_id="alice",
        provider="AWS",
        instance_type="g4dn.xlarge",
        region="us-east-1",
        status="TERMINATED",
        disk_size_gb=50,
        auto_terminate_minutes=60,
        cost_per_hour=1,
        engine="simulated",
        stack_name=f"inst-spot{n:04d}",
        created_at=now,
        expires_at=now + timedelta(hours=1),
        hard_deadline=now + timedelta(hours=4),
        terminated_at=now + timedelta(minutes=30),
        updated_at=now,
    )
    service.ledger.add(instance, event_type="instance:created")
    with Session(service.ledger.engine) as session:
        session.add(
            InstanceAttempt(
                instance_id=instance.id,
                number=1,
                provider="AWS",
                region="us-east-1",
                instance_type="g4dn.xlarge",
                spot=True,
                price_per_hour=1,
                stack_name=instance.stack_name,
                outcome="landed",
                started_at=now,
                ended_at=now + timedelta(minutes=1),
            )
        )
        if preempted:
            session.add(
                InstanceEvent(
                    instance_id=instance.id,
                    type="instance:preempted",
                    status="STOPPING",
                    at=now + timedelta(minutes=20),
                    detail="the VM vanished",
                )
            )
        session.commit()


def test_with_no_history_the_bare_spot_price_is_shown_and_said(service):
    rows = offers()
    assert rows and all(r["preemptionSamples"] == 0 for r in rows)
    assert all(r["expectedCostPerHour"] == r["spotCostPerHour"] for r in rows)
    shown = runner.invoke(app, ["offers", "--gpu", "T4:1", "--spot", "--provider", "aws"])
    assert shown.exit_code == 0, shown.output
    assert "no spot preemption history in this ledger yet" in shown.output
    assert "no history" in shown.output


def test_observed_preemptions_raise_the_expected_cost_with_rate_and_samples(service):
    for n in range(4):
        spot_vm(service, n, preempted=n == 0)
    rows = {(r["region"], r["instanceType"]): r for r in offers()}
    seen = rows[("us-east-1", "g4dn.xlarge")]
    assert (seen["preemptionRate"], seen["preemptionSamples"]) == (0.25, 4)
    # spot x (1 + 25% x rework 0.5)
    assert seen["expectedCostPerHour"] == pytest.approx(seen["spotCostPerHour"] * 1.125, abs=1e-6)
    other = next(r for k, r in rows.items() if k != ("us-east-1", "g4dn.xlarge"))
    assert other["preemptionSamples"] == 0
    assert other["expectedCostPerHour"] == other["spotCostPerHour"]
    shown = runner.invoke(app, ["offers", "--gpu", "T4:1", "--spot", "--provider", "aws"])
    assert "25% of 4" in shown.output and "rework 0.5" in shown.output
