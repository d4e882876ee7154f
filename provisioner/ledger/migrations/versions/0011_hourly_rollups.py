"""hourly statistics rollups

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

Per (user, provider, type, creation hour) sums of ended instances, kept by each terminal
transition beside the daily ones (#21), so a window's two partial days are read from at most
48 hourly groups instead of row by row; backfilled here from the rows already ended.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spend_rollups_hourly",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("instance_type", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("compute", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("storage", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "provider", "instance_type", "hour"),
    )
    with op.batch_alter_table("spend_rollups_hourly", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spend_rollups_hourly_hour"), ["hour"], unique=False)
    # The backfill uses the same cost expressions as the statistics (ledger/spend.py).
    from provisioner.ledger.rollups import backfill

    backfill(op.get_bind(), datetime.now(UTC), grains=("hour",), accepted=False)  # see 0012


def downgrade() -> None:
    with op.batch_alter_table("spend_rollups_hourly", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spend_rollups_hourly_hour"))
    op.drop_table("spend_rollups_hourly")
