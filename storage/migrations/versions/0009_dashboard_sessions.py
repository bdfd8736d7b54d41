"""dashboard sessions stored server-side, so logout revokes them on every replica

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dashboard_sessions"),
    )
    op.create_index("ix_dashboard_sessions_last_seen_at", "dashboard_sessions", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_dashboard_sessions_last_seen_at", table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
