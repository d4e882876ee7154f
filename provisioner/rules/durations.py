"""Durations and moments as people type them: `90` (minutes), `90m`, `3h`, `1h30m`, `2d`; and for
"since": a duration ago, `today`, `yesterday`, a date or an ISO time. Pure: `now` is passed in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from provisioner.rules.errors import ValidationError, shown

_UNITS = {"d": 1440, "h": 60, "m": 1}
_PART = re.compile(r"(\d+)\s*([dhm])")
_WHOLE = re.compile(r"(?:\d+\s*[dhm]\s*)+")


def parse_minutes(field_name: str, value: str | int | None, *, flag: str = "") -> int | None:
    """Minutes from `90`, `90m`, `3h`, `1h30m`, `2d`; None stays None."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text.isdigit():
        return int(text)
    if not _WHOLE.fullmatch(text):
        raise ValidationError(
            field_name,
            f"{flag or field_name} must be minutes or a duration (90, 90m, 3h, 1h30m, 2d); "
            f"got {shown(value)}",
        )
    return sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text))


def format_minutes(minutes: int) -> str:
    """120 -> '2h', 90 -> '1h30m', 45 -> '45m'."""
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return f"{rest}m"
    return f"{hours}h{rest}m" if rest else f"{hours}h"


def parse_since(field_name: str, value: str | None, *, now: datetime) -> datetime | None:
    """A moment: `2d`/`12h`/`90m` ago, `today`, `yesterday` (UTC midnights), a date
    (2026-11-26) or an ISO time (2026-11-26T10:00Z; naive means UTC)."""
    if value is None:
        return None
    text = value.strip().lower()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if text == "today":
        return midnight
    if text == "yesterday":
        return midnight - timedelta(days=1)
    if _WHOLE.fullmatch(text):
        minutes = parse_minutes(field_name, text) or 0
        return now.astimezone(UTC) - timedelta(minutes=minutes)
    raw = value.strip()
    try:
        moment = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise ValidationError(
            field_name,
            f"--{field_name} must be a duration ago (2d, 12h), today, yesterday, a date "
            f"(2026-11-26) or an ISO time (2026-11-26T10:00Z); got {shown(value)}",
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
