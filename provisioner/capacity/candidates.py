"""Candidates and attempts: the shapes failover, spot and every cloud's program share.

A request may land on any of several candidates (provider, region, zone, type, spot). Each try
of one candidate is an attempt with its own stack; a failed attempt is destroyed and recorded
before the next one starts, so the instance keeps one id while its attempts tell the story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from provisioner.rules.cloud_errors import FailureClass


@dataclass(frozen=True)
class Candidate:
    provider: str  # "AWS" | "AZURE" | "GCP"
    region: str
    instance_type: str
    # None: the program picks a zone of the region that offers the type (in a stated order).
    zone: str | None = None
    spot: bool = False
    # The hourly price this candidate would bill at (on-demand, or spot captured now).
    price_per_hour: Decimal = Decimal(0)

    def label(self) -> str:
        """'aws/us-east-1/us-east-1a/g5.xlarge/spot', '*' for a zone left to the program."""
        parts = [self.provider.lower(), self.region, self.zone or "*", self.instance_type]
        return "/".join([*parts, "spot"] if self.spot else parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "region": self.region,
            "zone": self.zone,
            "instanceType": self.instance_type,
            "spot": self.spot,
            "costPerHour": float(self.price_per_hour),
        }


class AttemptOutcome:
    RUNNING = "running"  # its up is in progress
    LANDED = "landed"  # its up succeeded: the instance lives here
    FAILED = "failed"  # its up failed; its stack was destroyed before the next attempt


@dataclass(frozen=True)
class Attempt:
    number: int  # 1-based, in the order tried
    candidate: Candidate
    stack_name: str
    outcome: str  # an AttemptOutcome value
    started_at: datetime
    ended_at: datetime | None = None
    failure_class: FailureClass | None = None
    provider_code: str | None = None  # e.g. InsufficientInstanceCapacity
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "candidate": self.candidate.to_json(),
            "stackName": self.stack_name,
            "outcome": self.outcome,
            "startedAt": self.started_at.isoformat().replace("+00:00", "Z"),
            "endedAt": None
            if self.ended_at is None
            else self.ended_at.isoformat().replace("+00:00", "Z"),
            "failureClass": None if self.failure_class is None else self.failure_class.value,
            "providerCode": self.provider_code,
            "message": self.message,
        }
