"""initial ledger: instances and their events

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("instance_type", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("public_ip", sa.String(length=64), nullable=True),
        sa.Column("private_ip", sa.String(length=64), nullable=True),
        sa.Column("cloud_instance_id", sa.String(length=256), nullable=True),
        sa.Column("disk_size_gb", sa.Integer(), nullable=False),
        sa.Column("auto_terminate_minutes", sa.Integer(), nullable=False),
        sa.Column("cost_per_hour", sa.Numeric(precision=14, scale=6), nullable=False),
        sa.Column("total_cost", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("purpose", sa.String(length=256), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("allowed_ssh_cidrs", sa.JSON(), nullable=False),
        sa.Column("ssh_public_key", sa.Text(), nullable=True),
        sa.Column("ssh_key_fingerprint", sa.String(length=128), nullable=True),
        sa.Column("engine", sa.String(length=16), nullable=False),
        sa.Column("stack_name", sa.String(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("hard_deadline", sa.DateTime(), nullable=False),
        sa.Column("ready_at", sa.DateTime(), nullable=True),
        sa.Column("terminated_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instances_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_instances_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_instances_provider"), ["provider"], unique=False)
        batch_op.create_index(batch_op.f("ix_instances_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_instances_task_id"), ["task_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_instances_user_id"), ["user_id"], unique=False)

    op.create_table(
        "instance_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("instance_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_instance_events_instance_id"), ["instance_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("instance_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instance_events_instance_id"))

    op.drop_table("instance_events")
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instances_user_id"))
        batch_op.drop_index(batch_op.f("ix_instances_task_id"))
        batch_op.drop_index(batch_op.f("ix_instances_status"))
        batch_op.drop_index(batch_op.f("ix_instances_provider"))
        batch_op.drop_index(batch_op.f("ix_instances_expires_at"))
        batch_op.drop_index(batch_op.f("ix_instances_created_at"))

    op.drop_table("instances")
