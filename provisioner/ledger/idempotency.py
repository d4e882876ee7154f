"""Idempotency-Key for POST /api/instances: a repeat within 24 h returns the same instance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session

from provisioner.ledger.ledger import Ledger
from provisioner.ledger.models import IdempotencyKey
from provisioner.rules.errors import ValidationError

WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def validate_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(33 <= ord(ch) <= 126 for ch in key):
        raise ValidationError(
            "Idempotency-Key",
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} visible ASCII characters without spaces",
        )
    return key


class IdempotencyKeys:
    def __init__(self, ledger: Ledger, clock: Callable[[], datetime]):
        self.ledger = ledger
        self.clock = clock

    def lookup(self, user_id: str, key: str) -> str | None:
        """The instance a key made within the window; an older record is forgotten."""
        with Session(self.ledger.engine, expire_on_commit=False) as session:
            row = session.get(IdempotencyKey, (user_id, key))
            if row is None:
                return None
            if self.clock() - row.created_at < WINDOW:
                return row.instance_id
            session.delete(row)
            session.commit()
            return None
