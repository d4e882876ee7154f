"""API hardening (idempotency claims, queued ups, budgets)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

Reserved for issue #10's schema changes so that parallel branches keep one linear chain; a
no-op until that work lands (an empty upgrade is harmless on any ledger).
"""

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
