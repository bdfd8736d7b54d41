"""poll cursors of polled sources

One row per polled source (Mastodon, Discourse, GitHub, X): the adapter's opaque cursor,
written after the messages it covers are stored. Hand-written to run alike on SQLite and
PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "poll_cursors",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_poll_cursors")),
    )


def downgrade() -> None:
    op.drop_table("poll_cursors")
