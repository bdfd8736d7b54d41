"""The migrations build exactly the schema the models describe, and upgrading is repeatable."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from storage.db import sync_url
from storage.migrate import current, head, upgrade
from storage.models import Base


def test_models_and_migrations_agree(db_url: str) -> None:
    engine = create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_upgrade_is_idempotent_and_reaches_head(db_url: str) -> None:
    assert upgrade(db_url) == []
    assert current(db_url) == head()
