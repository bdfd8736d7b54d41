"""nudges.summarised_at: when a nudge batched into a summary went out inside it; a
recipient's batched nudges indexed (ix_nudges_lane_batched)

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing, on either database. Batched nudges
    # of summaries already sent stay NULL (not counted as sent) until their summary's next
    # successful send or edit.
    with op.batch_alter_table("nudges") as batch_op:
        batch_op.add_column(sa.Column("summarised_at", sa.DateTime(), nullable=True))
    # Partial: only batched rows, so a summary finds its escalations without reading the
    # recipient's whole nudge history (storage.summary_claims_repo.escalations).
    op.create_index(
        "ix_nudges_lane_batched",
        "nudges",
        ["recipient_platform", "recipient_address"],
        sqlite_where=sa.text("state = 'batched'"),
        postgresql_where=sa.text("state = 'batched'"),
    )


def downgrade() -> None:
    op.drop_index("ix_nudges_lane_batched", table_name="nudges")
    with op.batch_alter_table("nudges") as batch_op:
        batch_op.drop_column("summarised_at")
