"""billed from

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

`billed_from`: when the cloud accepted the instance's current VM (the VM resource was
created). Compute and disk bill from then, not from admission: an attempt refused before a VM
existed, and an instance that never had one, cost nothing (#24). NULL on rows made before:
they bill from createdAt, as they did.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("billed_from", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("billed_from")
