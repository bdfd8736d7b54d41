"""Apply Alembic migrations. Safe to run from several replicas at once on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from storage.db import database_url, sync_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same in every replica.
_LOCK_KEY = 7_241_990_117


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> list[str]:
    """Upgrade to ``revision``; returns the revisions applied (empty when already current)."""
    engine = create_engine(sync_url(database_url(url)), poolclass=NullPool)
    cfg = _config()
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # Replicas starting together would race on CREATE TABLE; one migrates, the
                # rest wait here and then find nothing left to do.
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
                conn.commit()
            before = MigrationContext.configure(conn).get_current_revision()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
            if conn.dialect.name == "sqlite":
                _write_ahead_log(conn)
            after = MigrationContext.configure(conn).get_current_revision()
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()
    if before == after:
        return []
    script = ScriptDirectory.from_config(cfg)
    return [rev.revision for rev in script.iterate_revisions(after, before)][::-1]


def _write_ahead_log(conn: Connection) -> None:
    """WAL is kept in the file itself: set once here, by the one process that migrates,
    every process that opens the file later finds it set and never takes the exclusive lock
    the switch needs (several opening a new file at once failed "database is locked")."""
    if str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() != "wal":
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    conn.commit()


def head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(url: str | None = None) -> str | None:
    engine = create_engine(sync_url(database_url(url)), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
