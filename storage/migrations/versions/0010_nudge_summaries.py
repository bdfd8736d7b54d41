"""summary messages per person (no nudge floods), imported waits as history

Adds ``nudge_summaries`` (one row per recipient: the summary message standing for many
nudges, claimed under a lease like the outbox), ``summary_posts`` (what the hourly cap
counts), ``conversations.imported_wait`` and an index on the nudges a recipient got lately.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "nudge_summaries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("recipient_platform", sa.String(length=32), nullable=False),
        sa.Column("recipient_address", sa.String(length=255), nullable=False),
        sa.Column("recipient_person", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("window_until", sa.DateTime(), nullable=True),
        sa.Column("post_due", sa.Boolean(), nullable=False),
        sa.Column("held_back", sa.Integer(), nullable=False),
        sa.Column("platform_ref", sa.String(length=255), nullable=True),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nudge_summaries")),
        sa.UniqueConstraint(
            "recipient_platform", "recipient_address", name="uq_nudge_summaries_lane"
        ),
    )
    op.create_index(
        "ix_nudge_summaries_due",
        "nudge_summaries",
        ["next_attempt_at"],
        sqlite_where=sa.text("next_attempt_at IS NOT NULL"),
        postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
    )
    op.create_table(
        "summary_posts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("recipient_platform", sa.String(length=32), nullable=False),
        sa.Column("recipient_address", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summary_posts")),
    )
    op.create_index(
        "ix_summary_posts_lane", "summary_posts", ["recipient_platform", "recipient_address", "at"]
    )
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(sa.Column("imported_wait", sa.DateTime(), nullable=True))
    op.create_index(
        "ix_nudges_lane", "nudges", ["recipient_platform", "recipient_address", "sent_at"]
    )
    op.create_index(
        "ix_nudges_lane_due",
        "nudges",
        ["recipient_platform", "recipient_address", "next_attempt_at"],
        sqlite_where=sa.text("next_attempt_at IS NOT NULL"),
        postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_nudges_lane_due", table_name="nudges")
    op.drop_index("ix_nudges_lane", table_name="nudges")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("imported_wait")
    op.drop_index("ix_summary_posts_lane", table_name="summary_posts")
    op.drop_table("summary_posts")
    op.drop_index("ix_nudge_summaries_due", table_name="nudge_summaries")
    op.drop_table("nudge_summaries")
