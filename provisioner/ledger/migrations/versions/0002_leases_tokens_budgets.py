"""leases, retries, cost split, api tokens, idempotency keys, budgets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "budgets",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("daily_usd", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("monthly_usd", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("max_instances", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
        ),
        sa.PrimaryKeyConstraint("user_id", "key"),
    )
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operation", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("destroy_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("next_retry_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("storage_price_gb_month", sa.Numeric(precision=14, scale=6), nullable=True)
        )
        batch_op.add_column(
            sa.Column("compute_cost", sa.Numeric(precision=14, scale=6), nullable=True)
        )
        batch_op.add_column(
            sa.Column("storage_cost", sa.Numeric(precision=14, scale=6), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_instances_lease_expires_at"), ["lease_expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instances_lease_expires_at"))
        batch_op.drop_column("storage_cost")
        batch_op.drop_column("compute_cost")
        batch_op.drop_column("storage_price_gb_month")
        batch_op.drop_column("next_retry_at")
        batch_op.drop_column("destroy_attempts")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("operation")

    op.drop_table("idempotency_keys")
    op.drop_table("budgets")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
