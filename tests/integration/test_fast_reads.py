"""`list`, `show` and `stats` print the same on the DB-API fast path as on the ORM path, on SQLite
and PostgreSQL (#21). The fast runs have the ORM path's entry points replaced by a failure, so a
command that quietly took the old way fails the test; PROVISIONER_ORM_READS=1 forces the old
way for the reference output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.ledger.models import Instance, InstanceAttempt
from provisioner.ledger.rollups import backfill

runner = CliRunner()
NOW = datetime(2026, 11, 26, 12, 0, 30, 250000, tzinfo=UTC)


def _row(n: int, **fields: Any) -> dict[str, Any]:
    created = NOW - timedelta(hours=30 - n, seconds=n * 7, microseconds=n * 1013)
    row = {
        "id": f"inst-{n:012x}", "user_id": "ann", "task_id": None, "provider": "AWS",
        "instance_type": "g4dn.xlarge", "region": "us-east-1", "status": "TERMINATED",
        "public_ip": None, "private_ip": None, "cloud_instance_id": None,
        "disk_size_gb": 50, "auto_terminate_minutes": 30, "cost_per_hour": Decimal("0.526"),
        "storage_price_gb_month": Decimal("0.08"), "total_cost": Decimal("0.100001"),
        "compute_cost": Decimal("0.1"), "storage_cost": Decimal("0.000001"), "tags": {},
        "metadata": {}, "allowed_ssh_cidrs": [], "engine": "simulated",
        "stack_name": f"inst-{n:012x}", "created_at": created,
        "expires_at": created + timedelta(minutes=30),
        "hard_deadline": created + timedelta(hours=4), "ready_at": None,
        "terminated_at": created + timedelta(minutes=17, seconds=3),
        "updated_at": created, "billed_from": None, "destroy_attempts": 0,
        "purpose": None, "error": None, "error_code": None, "ssh_key_fingerprint": None,
    }  # fmt: skip
    row.update(fields)
    return row


def _ledger_rows() -> list[dict[str, Any]]:
    live = {"terminated_at": None, "total_cost": None, "compute_cost": None, "storage_cost": None}
    return [
        # Ended where it landed on a second try, with tags and a purpose.
        _row(
            1,
            provider="GCP",
            instance_type="g2-standard-4",
            region="us-central1",
            tags={"team": "nlp", "env": "dev"},
            purpose="fine-tune",
            metadata={"zone": "us-central1-a", "spot": True, "capacity": {"maxAttempts": 3}},
            public_ip="203.0.113.9",
            cloud_instance_id="vm-1",
            error=None,
        ),
        # Ended before the cost split existed: its total is all compute.
        _row(2, user_id="bob", compute_cost=None, storage_cost=None, total_cost=Decimal("1.5")),
        # Live, billed from the cloud's acceptance, after a recovery carried a cost.
        _row(
            3,
            **live,
            status="READY",
            provider="AZURE",
            instance_type="Standard_NC6",
            region="eastus",
            billed_from=NOW - timedelta(hours=2, seconds=41),
            ready_at=NOW - timedelta(hours=2),
            metadata={"carriedCost": {"compute": "0.25", "storage": "0.01"}, "note": None},
            engine="pulumi",
            cost_per_hour=Decimal("0.9"),
            private_ip="10.0.0.4",
        ),
        # Live with no VM yet: costs nothing.
        _row(4, **live, status="PROVISIONING", user_id="bob", task_id="t-9"),
        # Failed and cleaned up, with an error.
        _row(5, status="FAILED", error="capacity: none left", error_code="CAPACITY"),
    ]


def _attempts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first = rows[0]
    started = first["created_at"]
    common = {"instance_id": first["id"], "provider": "GCP", "instance_type": "g2-standard-4"}
    return [
        {
            **common, "number": 1, "region": "us-east4", "zone": None, "spot": False,
            "price_per_hour": Decimal("0.7"), "stack_name": first["id"], "outcome": "failed",
            "started_at": started, "ended_at": started + timedelta(seconds=40, microseconds=5),
            "failure_class": "capacity", "provider_code": "ZONE_RESOURCE_POOL_EXHAUSTED",
            "message": "no capacity",
        },
        {
            **common, "number": 2, "region": "us-central1", "zone": "us-central1-a",
            "spot": True, "price_per_hour": Decimal("0.2812"),
            "stack_name": first["id"] + "-a2", "outcome": "landed",
            "started_at": started + timedelta(minutes=1), "ended_at": None,
            "failure_class": None, "provider_code": None, "message": None,
        },
    ]  # fmt: skip


def _fill(service, rows: list[dict[str, Any]]) -> None:
    with service.ledger.engine.begin() as conn:
        conn.execute(sa.insert(Instance.__table__), rows)  # type: ignore[attr-defined]
        conn.execute(sa.insert(InstanceAttempt.__table__), _attempts(rows))  # type: ignore[attr-defined]
        backfill(conn, NOW)  # the ended rows in the rollups, as their transitions would add them


def _orm_path_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("took the ORM path")

    monkeypatch.setattr("provisioner.cli.context.make_provisioner", refuse)
    monkeypatch.setattr("provisioner.ledger.reads.statistics_out", refuse)


def _both(monkeypatch: pytest.MonkeyPatch, args: list[str], *, fast: bool = True) -> str:
    """The command's output on the ORM path, checked equal to the fast path's."""
    with time_machine.travel(NOW, tick=False):
        with monkeypatch.context() as m:
            m.setenv("PROVISIONER_ORM_READS", "1")
            orm = runner.invoke(app, args)
        with monkeypatch.context() as m:
            m.delenv("PROVISIONER_ORM_READS", raising=False)
            if fast:
                _orm_path_fails(m)
            quick = runner.invoke(app, args)
    assert (quick.exit_code, quick.output) == (orm.exit_code, orm.output), args
    return orm.output


COMMANDS = [
    ["list"],
    ["list", "--json"],
    ["list", "--all", "--json"],
    ["list", "--all", "--quiet", "--user", "ann"],
    ["list", "--limit", "2"],
    ["list", "--limit", "2", "--json"],
    ["list", "--user", "bob", "--json"],
    ["list", "--status", "terminated", "--json"],
    ["list", "--since", "2026-11-25T12:00Z", "--json"],
    ["list", "--user", "nobody"],
    ["stats"],
    ["stats", "--json"],
    ["stats", "--user", "ann", "--json"],
    ["stats", "--since", "2026-11-25T10:30Z", "--until", "2026-11-26T11:45Z", "--json"],
    ["stats", "--since", "2026-11-26", "--until", "2026-11-25"],  # bad input: exit 2
    ["show", "inst-nothere"],  # not found: exit 2
]


def test_read_commands_print_the_same_on_both_paths(service, monkeypatch):
    rows = _ledger_rows()
    _fill(service, rows)
    outputs = [_both(monkeypatch, args) for args in COMMANDS]
    for row in rows:
        outputs.append(_both(monkeypatch, ["show", row["id"]]))
        outputs.append(_both(monkeypatch, ["show", row["id"], "--json"]))
    joined = "\n".join(outputs)
    # The comparison saw the rows (not two empty ledgers): costs, attempts, a live row's cost.
    assert "inst-000000000001" in joined and "us-east4" in joined and "fine-tune" in joined
    assert '"totalProvisioned": 5' in joined and '"currentlyRunning": 2' in joined


def test_a_live_vm_open_to_ssh_is_shown_by_the_orm_path(service, monkeypatch):
    """Its sshCommand comes from its engine: the fast path hands `show` and `list --json` over,
    and the output stays the same; the table, which shows no ssh command, stays fast."""
    rows = _ledger_rows()
    rows.append(
        _row(
            6, status="READY", terminated_at=None, total_cost=None, compute_cost=None,
            storage_cost=None, allowed_ssh_cidrs=["198.51.100.0/24"], public_ip="192.0.2.7",
            ssh_key_fingerprint="SHA256:abc",
        )
    )  # fmt: skip
    _fill(service, rows)
    for args in (["show", rows[-1]["id"]], ["list", "--json"], ["list", "--all", "--json"]):
        _both(monkeypatch, args, fast=False)
    _both(monkeypatch, ["list"])
    _both(monkeypatch, ["show", rows[0]["id"], "--json"])


def test_a_fresh_home_migrates_on_the_first_read(service, monkeypatch, tmp_path):
    """No ledger yet: the first `list` takes the ORM path, which creates and migrates it; the
    next one is fast."""
    monkeypatch.setenv("PROVISIONER_HOME", str(tmp_path / "fresh"))
    monkeypatch.delenv("PROVISIONER_DATABASE_URL", raising=False)
    first = runner.invoke(app, ["list"])
    assert (first.exit_code, first.output) == (0, "no instances\n")
    assert (tmp_path / "fresh" / "ledger.db").is_file()
    with monkeypatch.context() as m:
        _orm_path_fails(m)
        again = runner.invoke(app, ["list"])
    assert (again.exit_code, again.output) == (0, "no instances\n")
