"""reaper heartbeats

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

Each reaper (`provisioner reap`, `serve`'s thread) records its latest sweep, so `up` and
`doctor` can say when no reaper is watching the ledger's expiries.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reaper_heartbeats",
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("last_sweep_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )
    with op.batch_alter_table("reaper_heartbeats", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reaper_heartbeats_last_sweep_at"), ["last_sweep_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reaper_heartbeats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reaper_heartbeats_last_sweep_at"))
    op.drop_table("reaper_heartbeats")
