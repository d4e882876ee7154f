"""remote access (keys, readiness, runs)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Reserved for issue #11's schema changes so that parallel branches keep one linear chain; a
no-op until that work lands (an empty upgrade is harmless on any ledger).
"""

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
