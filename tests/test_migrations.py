"""The migrations build exactly the schema the models describe, and upgrading is repeatable."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

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


def test_a_migrated_sqlite_file_is_in_wal_mode_before_anyone_opens_it(tmp_path: Path) -> None:
    # Several processes opening a new file each switched it to WAL, the switch needs an
    # exclusive lock, and all but one failed "database is locked": the migration sets it.
    path = tmp_path / "fresh.db"
    upgrade(f"sqlite:///{path}")
    assert not (tmp_path / "fresh.db-wal").exists()  # closed cleanly
    assert path.read_bytes()[18:20] == b"\x02\x02"  # the header's WAL marks: kept in the file
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
