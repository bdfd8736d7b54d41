"""weekly digests sent, and indexes for reports across sources

Adds ``digests`` (one row per owner and week, the primary key is the once-only guard across
replicas) and plain indexes on the time columns that ``stats``, the dashboard and the CSV
export range over without naming a source (the existing indexes lead with ``source``).
Hand-written to run alike on SQLite and PostgreSQL.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_conversations_started_at", "conversations", "started_at"),
    ("ix_messages_at", "messages", "at"),
    ("ix_waiting_periods_started_at", "waiting_periods", "started_at"),
)


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("platform_ref", sa.String(length=255), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("person", "week", name=op.f("pk_digests")),
    )
    for name, table, column in _INDEXES:
        op.create_index(name, table, [column], unique=False)


def downgrade() -> None:
    for name, table, _column in _INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_table("digests")
