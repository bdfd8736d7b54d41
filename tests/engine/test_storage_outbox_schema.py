"""The outbox schema: the migration matches the models, goes down and up again, and the
queries a tick runs are served by the partial indexes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from storage.db import sync_url
from storage.migrate import _config, upgrade
from storage.models import Base
from tests.conftest import BACKEND


def test_migrations_match_the_models(db_url: str) -> None:
    engine = create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [
                d for d in compare_metadata(context, Base.metadata)
                if "nudge" in repr(d) or "next_nudge_at" in repr(d)
            ]  # fmt: skip
        assert diff == []
    finally:
        engine.dispose()


def test_outbox_migration_goes_down_and_up(db_url: str) -> None:
    from alembic import command

    engine = create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
            conn.commit()
            assert "nudges" not in inspect(conn).get_table_names()
            assert "next_nudge_at" not in {c["name"] for c in inspect(conn).get_columns(
                "conversations")}  # fmt: skip
            # The initial schema's partial indexes survive SQLite's table rebuild.
            assert "ix_conversations_waiting" in {
                i["name"] for i in inspect(conn).get_indexes("conversations")
            }
    finally:
        engine.dispose()
    upgrade(db_url)
    engine = create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            assert "nudges" in inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_tick_reads_only_the_partial_indexes(db_url: str) -> None:
    engine = create_engine(sync_url(db_url))
    queries = {
        "ix_conversations_next_nudge": "SELECT next_nudge_at FROM conversations WHERE "
        "next_nudge_at IS NOT NULL ORDER BY next_nudge_at LIMIT 1",
        "ix_nudges_due": "SELECT id FROM nudges WHERE next_attempt_at <= '2026-01-01' "
        "AND state IN ('pending', 'sending') ORDER BY next_attempt_at LIMIT 10",
        "ix_nudges_update_due": "SELECT update_next_at FROM nudges WHERE update_next_at IS NOT "
        "NULL ORDER BY update_next_at LIMIT 1",
    }
    try:
        with engine.connect() as conn:
            if BACKEND == "postgresql":
                conn.execute(text("SET enable_seqscan = off"))  # tiny tables: ask the planner
            for index, sql in queries.items():
                prefix = "EXPLAIN QUERY PLAN " if BACKEND == "sqlite" else "EXPLAIN "
                plan = " ".join(str(r) for r in conn.execute(text(prefix + sql)))
                assert index in plan, plan
    finally:
        engine.dispose()
