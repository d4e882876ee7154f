"""statistics rollups

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

Per (user, provider, type, creation day) sums of ended instances, kept by each terminal
transition (#16), backfilled here from the rows already ended; and an index on terminated_at
that finds the live rows (terminated_at IS NULL) without reading the ended ones.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spend_rollups",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("instance_type", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("compute", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("storage", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "provider", "instance_type", "day"),
    )
    with op.batch_alter_table("spend_rollups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spend_rollups_day"), ["day"], unique=False)
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.create_index("ix_instances_terminated_at", ["terminated_at"], unique=False)
    # The backfill uses the same cost expressions as the statistics (ledger/spend.py).
    from provisioner.ledger.rollups import backfill

    backfill(op.get_bind(), datetime.now(UTC), grains=("day",), accepted=False)  # see 0011, 0012


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_terminated_at")
    with op.batch_alter_table("spend_rollups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spend_rollups_day"))
    op.drop_table("spend_rollups")
