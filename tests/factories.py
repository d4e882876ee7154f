"""Test factories: requests like the seed's examples, a settable clock, a real SSH key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from provisioner.rules.validation import ProvisionRequest

ED25519_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"
)


class FakeClock:
    def __init__(self, start: datetime = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_request(**overrides: object) -> ProvisionRequest:
    """The seed's AWS example (g4dn.xlarge, us-east-1, 50 GB, 30 min) unless overridden."""
    fields: dict[str, object] = {
        "provider": "AWS",
        "instance_type": "g4dn.xlarge",
        "region": "us-east-1",
        "disk_size_gb": 50,
        "auto_terminate_minutes": 30,
        "user_id": "user-123",
        "task_id": "batch-789",
        "purpose": "Batch process 100 patient records",
    }
    fields.update(overrides)
    return ProvisionRequest(**fields)  # type: ignore[arg-type]


def azure_request(**overrides: object) -> ProvisionRequest:
    """The seed's Azure example: Standard_NC6 in eastus, 100 GB, 60 minutes, with tags."""
    fields: dict[str, object] = {
        "provider": "AZURE",
        "instance_type": "Standard_NC6",
        "region": "eastus",
        "disk_size_gb": 100,
        "auto_terminate_minutes": 60,
        "user_id": "user-123",
        "task_id": "task-456",
        "tags": {"environment": "production", "project": "medical-analysis"},
        "purpose": "Medical Document Analysis",
    }
    fields.update(overrides)
    return make_request(**fields)
