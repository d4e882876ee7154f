"""capacity (attempts, zones, spot, preemption)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

One row per attempt of an instance request: the candidate tried (provider, region, zone, type,
spot, price), its stack, its outcome and the cloud's refusal.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instance_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=True),
        sa.Column("instance_type", sa.String(length=64), nullable=False),
        sa.Column("spot", sa.Boolean(), nullable=False),
        sa.Column("price_per_hour", sa.Numeric(precision=14, scale=6), nullable=False),
        sa.Column("stack_name", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("failure_class", sa.String(length=32), nullable=True),
        sa.Column("provider_code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["instances.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("instance_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_instance_attempts_instance_id"), ["instance_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("instance_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instance_attempts_instance_id"))
    op.drop_table("instance_attempts")
