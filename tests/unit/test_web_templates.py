"""The instance page shows the fields other issues fill (SSH access, attempts) as soon as the
instance JSON carries them, escaped like everything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from provisioner.ledger.models import (
    AttemptOut,
    CandidateOut,
    InstanceCostBreakdownOut,
    InstanceOut,
)
from provisioner.ledger.tokens import Principal
from provisioner.web.render import ENV
from provisioner.web.session import Session

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def instance(**changes: object) -> InstanceOut:
    fields: dict[str, object] = {
        "id": "inst-1",
        "user_id": "alice",
        "task_id": None,
        "provider": "AWS",
        "instance_type": "g4dn.xlarge",
        "region": "us-east-1",
        "status": "READY",
        "public_ip": "203.0.113.9",
        "private_ip": "10.0.0.9",
        "cloud_instance_id": "i-1",
        "disk_size_gb": 50,
        "auto_terminate_minutes": 30,
        "expires_at": NOW + timedelta(minutes=30),
        "hard_deadline": NOW + timedelta(hours=4),
        "cost_per_hour": 0.526,
        "total_cost": 0.1,
        "cost_breakdown": InstanceCostBreakdownOut(compute=0.09, storage=0.01),
        "purpose": None,
        "tags": {},
        "metadata": {},
        "engine": "simulated",
        "created_at": NOW,
        "ready_at": NOW,
        "terminated_at": None,
        "updated_at": NOW,
        "error": None,
        "error_code": None,
    }
    fields.update(changes)
    return InstanceOut.model_validate(fields)


def panel(shown: InstanceOut) -> str:
    return ENV.get_template("_instance_panel.html").render(
        session=Session(Principal("alice", False, "tok-1"), "csrf"),
        now=NOW,
        instance=shown,
        events=[],
        final=False,
        extend_choices=(15, 30),
        extra=[],
    )


def test_ssh_access_and_attempts_show_when_present() -> None:
    bare = panel(instance())
    assert "SSH command" not in bare
    assert "Attempts" not in bare
    candidate = CandidateOut(
        provider="AWS",
        region="us-east-1",
        zone="us-east-1a",
        instance_type="g4dn.xlarge",
        spot=True,
        cost_per_hour=0.2,
    )
    full = panel(
        instance(
            ssh_user="ubuntu",
            ssh_command="ssh -i key ubuntu@203.0.113.9",
            allowed_ssh_cidrs=["198.51.100.0/24"],
            ssh_key_fingerprint="SHA256:abc",
            attempts=[
                AttemptOut(
                    number=1,
                    candidate=candidate,
                    stack_name="s-1",
                    outcome="failed",
                    started_at=NOW,
                    ended_at=NOW,
                    failure_class="capacity",
                    provider_code="InsufficientInstanceCapacity",
                    message="<b>no capacity</b>",
                )
            ],
        )
    )
    assert "ssh -i key ubuntu@203.0.113.9" in full
    assert "198.51.100.0/24" in full
    assert "SHA256:abc" in full
    assert "InsufficientInstanceCapacity" in full
    assert "us-east-1/us-east-1a" in full
    assert "&lt;b&gt;no capacity&lt;/b&gt;" in full
    assert "<b>no capacity" not in full
