"""public IPv4 cost

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

The VM's public IPv4 address bills by the hour on every cloud (#24): `public_ip_price_per_hour`
is its $/hour for the current candidate (NULL when the VM got no public address, and on rows
made before: they cost what they did), `public_ip_cost` its cost frozen when the instance ends.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_ip_price_per_hour", sa.Numeric(14, 6), nullable=True))
        batch_op.add_column(sa.Column("public_ip_cost", sa.Numeric(14, 6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("public_ip_cost")
        batch_op.drop_column("public_ip_price_per_hour")
