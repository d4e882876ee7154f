"""Helpers for the PostgreSQL half of the suite (the fixtures are in conftest.py)."""

from __future__ import annotations

import os
from urllib.parse import quote

POSTGRES_ENV = "PROVISIONER_TEST_POSTGRES_URL"


def postgres_base_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def with_search_path(url: str, schema: str) -> str:
    """The URL with a libpq `options` that puts every connection in `schema`."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
