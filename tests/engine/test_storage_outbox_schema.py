"""The outbox schema: the migration matches the models, goes down and up again, and the
queries a tick runs are served by the partial indexes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from storage import nudges_repo
from storage import outbox_repo as outbox
from storage import outbox_updates_repo as outbox_updates
from storage.db import Database, sync_url
from storage.migrate import _config, upgrade
from storage.models import Base
from tests.plans import full_scans, product_plans


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


TICK = datetime(2026, 1, 1, tzinfo=UTC)


def _tick_reads(db: Database) -> dict[str, tuple[Callable[[], Awaitable[object]], set[str]]]:
    """Each read a scheduler tick makes, as the product runs it, and the indexes serving it."""

    async def earliest() -> object:
        async with db.engine.connect() as conn:
            return await nudges_repo.earliest_due(conn)

    Run = Callable[[], Awaitable[object]]

    def in_write(read: Callable[[AsyncSession], Awaitable[object]]) -> Run:
        async def run() -> object:
            async with db.write() as s:
                return await read(s)

        return run

    return {
        "earliest_due": (
            earliest,
            {"ix_conversations_next_nudge", "ix_nudges_due", "ix_nudges_update_due"},
        ),
        "next_nudge_at": (in_write(nudges_repo.next_nudge_at), {"ix_conversations_next_nudge"}),
        "claim_due_conversations": (
            in_write(lambda s: nudges_repo.claim_due_conversations(s, TICK, 10)),
            {"ix_conversations_next_nudge"},
        ),
        "claim_deliveries": (
            in_write(lambda s: outbox.claim_deliveries(s, TICK, 10)),
            {"ix_nudges_due"},
        ),
        "claim_for_lanes": (
            in_write(lambda s: outbox.claim_for_lanes(s, TICK, 10, {}, lambda _: 2)),
            {"ix_nudges_due"},
        ),
        "claim_updates": (
            in_write(lambda s: outbox_updates.claim_updates(s, TICK, 10)),
            {"ix_nudges_update_due"},
        ),
        "next_work_at": (
            in_write(outbox.next_work_at),
            {"ix_nudges_due", "ix_nudges_update_due"},
        ),
    }


@pytest.mark.parametrize(
    "read",
    ["earliest_due", "next_nudge_at", "claim_due_conversations", "claim_deliveries",
     "claim_for_lanes", "claim_updates", "next_work_at"],
)  # fmt: skip
async def test_tick_reads_only_the_partial_indexes(db: Database, read: str) -> None:
    """The statements the tick's own functions send, explained: each is served by its partial
    index and none reads a whole table."""
    run, indexes = _tick_reads(db)[read]
    plans = await product_plans(db, run)
    together = "\n".join(plans)
    for index in indexes:
        assert index in together, (index, together)
    assert full_scans(together) == [], together


def test_claims_on_postgresql_skip_rows_other_replicas_hold() -> None:
    """The claim statement as compiled for PostgreSQL (a real dialect; no server needed, so
    this runs under either backend): the due rows are locked with SKIP LOCKED, so a replica
    takes other rows instead of queueing behind one that is sending."""
    from sqlalchemy import select, update
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.models import Nudge

    engine = create_async_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    session = AsyncSession(engine)
    due = select(Nudge.id).where(Nudge.next_attempt_at.is_not(None)).limit(5)
    stmt = update(Nudge).where(outbox.claimable(session, due)).values(attempts=Nudge.attempts + 1)
    sql = str(stmt.compile(dialect=engine.dialect))
    assert "WITH due AS" in sql and "FOR UPDATE SKIP LOCKED" in sql, sql
    assert "nudges.id = due.id" in sql, sql


def test_claimed_rows_are_frozen() -> None:
    from dataclasses import FrozenInstanceError

    claimed = outbox.Claimed(1, 1, 1, TICK, "first", None, "slack", "U1", TICK)
    with pytest.raises(FrozenInstanceError):
        claimed.attempt = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        outbox.SentRecord(1, 1, "ref", TICK).attempt = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        outbox.LaneClaim([], drained=True).drained = False  # type: ignore[misc]
