"""remote access (keys, readiness, runs)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Issue #11: an instance keeps its first-boot setup script and idle auto-stop window, so a resumed
up renders the same user data. (Private keys never enter the ledger.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("setup_script", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("idle_minutes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("idle_minutes")
        batch_op.drop_column("setup_script")
