"""Opaque keyset cursors for GET /api/instances: (createdAt, id) of the last instance shown."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from provisioner.ledger.models import InstanceOut
from provisioner.rules.errors import ValidationError

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def encode_cursor(last: InstanceOut) -> str:
    raw = json.dumps([last.created_at.isoformat(), last.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, instance_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None or not isinstance(instance_id, str):
            raise ValueError("not a cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            "cursor", "Cursor must be a nextCursor value returned by this API (got a bad one)"
        ) from None
    return moment, instance_id
