"""API hardening (idempotency claims, queued ups, budgets)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

Idempotency-Keys expire after 24 h and the sweep purges them by created_at: index it. (The key's
claim uses the existing primary key (user_id, key); queued ups use the existing lease columns.)
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
