"""nudge outbox and the planner's due column

Adds ``nudges`` (one row per ladder slot and recipient, UNIQUE on the step so each goes out
once per recipient) and ``conversations.next_nudge_at`` with a partial index, so a scheduler
tick reads only what is due. Hand-written to run alike on SQLite (batch mode) and PostgreSQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _partial(column: str) -> dict[str, sa.TextClause]:
    where = sa.text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_nudge_at", sa.DateTime(), nullable=True))
        batch_op.create_index(
            "ix_conversations_next_nudge",
            ["next_nudge_at"],
            unique=False,
            **_partial("next_nudge_at"),
        )

    op.create_table(
        "nudges",
        sa.Column("id", _ID, nullable=False),
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("track", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("recipient_key", sa.String(length=160), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("recipient_person", sa.String(length=64), nullable=True),
        sa.Column("recipient_platform", sa.String(length=32), nullable=False),
        sa.Column("recipient_address", sa.String(length=255), nullable=False),
        sa.Column("slot_at", sa.DateTime(), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("platform_ref", sa.String(length=255), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_by", sa.String(length=255), nullable=True),
        sa.Column("outcome_at", sa.DateTime(), nullable=True),
        sa.Column("outcome_after", sa.Integer(), nullable=True),
        sa.Column("outcome_until", sa.DateTime(), nullable=True),
        sa.Column("update_state", sa.String(length=16), nullable=True),
        sa.Column("update_version", sa.Integer(), nullable=False),
        sa.Column("update_attempts", sa.Integer(), nullable=False),
        sa.Column("update_next_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_nudges_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nudges")),
        sa.UniqueConstraint(
            "conversation_id",
            "period_start",
            "track",
            "seq",
            "recipient_key",
            name="uq_nudges_step",
        ),
    )
    with op.batch_alter_table("nudges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_nudges_due", ["next_attempt_at"], unique=False, **_partial("next_attempt_at")
        )
        batch_op.create_index(
            "ix_nudges_update_due", ["update_next_at"], unique=False, **_partial("update_next_at")
        )


def downgrade() -> None:
    with op.batch_alter_table("nudges", schema=None) as batch_op:
        batch_op.drop_index("ix_nudges_update_due", **_partial("update_next_at"))
        batch_op.drop_index("ix_nudges_due", **_partial("next_attempt_at"))
    op.drop_table("nudges")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_next_nudge", **_partial("next_nudge_at"))
        batch_op.drop_column("next_nudge_at")
