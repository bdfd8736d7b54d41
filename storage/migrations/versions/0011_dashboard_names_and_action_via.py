"""channel and chat names for the dashboard; where an action came from (web, slack, telegram)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_names",
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=False), nullable=False),
        sa.PrimaryKeyConstraint("platform", "channel", name="pk_channel_names"),
    )
    with op.batch_alter_table("actions") as batch_op:
        batch_op.add_column(sa.Column("via", sa.String(16), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("actions") as batch_op:
        batch_op.drop_column("via")
    op.drop_table("channel_names")
