"""on-call overrides taken with `oncall take`, and hand-off notices sent

Adds ``oncall_overrides`` (turns taken from the CLI or API; they rank above the config's own
overrides) and ``oncall_handoffs`` (one row per rotation, turn start and incoming person:
the UNIQUE key is the once-only guard across replicas). Hand-written to run alike on SQLite
and PostgreSQL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "oncall_overrides",
        sa.Column("id", _ID, nullable=False),
        sa.Column("rotation", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_overrides")),
    )
    op.create_index("ix_oncall_overrides_ends_at", "oncall_overrides", ["ends_at"], unique=False)
    op.create_table(
        "oncall_handoffs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("rotation", sa.String(length=64), nullable=False),
        sa.Column("turn_start", sa.DateTime(), nullable=False),
        sa.Column("turn_end", sa.DateTime(), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_handoffs")),
        sa.UniqueConstraint(
            "rotation",
            "turn_start",
            "person",
            name=op.f("uq_oncall_handoffs_rotation_turn_start_person"),
        ),
    )


def downgrade() -> None:
    op.drop_table("oncall_handoffs")
    op.drop_index("ix_oncall_overrides_ends_at", table_name="oncall_overrides")
    op.drop_table("oncall_overrides")
