"""first real use (stack history export, archive)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

Issue #13: `stack_history`, each stack's update history exported by `provisioner gc` before
the stack is removed from a self-managed backend (so `history ID` keeps working).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stack_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=False),
        sa.Column("end_time", sa.DateTime(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("resource_changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instances.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stack_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stack_history_instance_id"), ["instance_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stack_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stack_history_instance_id"))
    op.drop_table("stack_history")
