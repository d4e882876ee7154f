"""Builds settings and the service for a command (imported only when a command runs)."""

from __future__ import annotations

import getpass
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.config import Settings
    from provisioner.ops.service import Provisioner


def load_settings(*, simulate: bool = False) -> Settings:
    from provisioner.config import Settings

    settings = Settings()
    if simulate:
        settings = settings.model_copy(update={"engine": "simulated"})
    return settings


def make_provisioner(*, simulate: bool = False) -> Provisioner:
    from provisioner.ops.service import Provisioner

    return Provisioner(load_settings(simulate=simulate))


def default_user() -> str:
    """The OS login name when it is a valid user id, else "local"."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return "local"
    return name if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name) else "local"


def parse_when(field_name: str, value: str | None) -> datetime | None:
    """A moment as typed: 2d/12h ago, today, yesterday, a date (2026-11-26) or an ISO time
    (2026-11-26T10:00Z; naive means UTC). `list --since yesterday` and `stats --since 2d`."""
    from provisioner.rules.durations import parse_since

    return parse_since(field_name, value, now=datetime.now(UTC))
