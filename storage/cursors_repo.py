"""Poll cursors (one opaque string per polled source) and the per-source poll lock.

The lock is a PostgreSQL session advisory lock (``pg_try_advisory_lock``), held for as long
as this replica polls the source, so exactly one replica polls it; when the session dies
(database restart, network), PostgreSQL drops the lock and another replica may take over.
Every poll lock of a process is held by one shared session (``_LockSession``): a session can
hold any number of advisory locks, and a pooled connection kept per polled source would have
starved the pool (10 + 10) every request draws from once there were enough sources. SQLite
assumes a single process: the lock is always granted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database, insert_for
from storage.models import PollCursor

log = logging.getLogger("nudgebot.polling")


async def load_cursor(db: Database, source: str) -> str | None:
    async with db.read() as session:
        found: str | None = await session.scalar(
            select(PollCursor.cursor).where(PollCursor.source == source)
        )
    return found


async def load_cursor_at(db: Database, source: str) -> tuple[str, datetime] | None:
    """The cursor and when it was saved."""
    async with db.read() as session:
        row = (
            await session.execute(
                select(PollCursor.cursor, PollCursor.updated_at).where(PollCursor.source == source)
            )
        ).first()
    return None if row is None else (row[0], row[1])


async def save_cursor(db: Database, source: str, cursor: str, at: datetime) -> None:
    async with db.write() as session:
        stmt = insert_for(session, PollCursor).values(source=source, cursor=cursor, updated_at=at)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source"], set_={"cursor": cursor, "updated_at": at}
        )
        await session.execute(stmt)


def lock_key(source: str) -> int:
    """A stable signed 64-bit key per source: every replica computes the same one."""
    digest = hashlib.sha256(f"nudgebot:poll:{source}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _LockSession:
    """The one connection that holds this process's poll locks.

    Statements on it take turns (an asyncio lock). ``generation`` counts the connections it
    has opened: a lock taken on an earlier one died with it. It closes when the last lock is
    released, so a stopped runtime leaves no connection checked out.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.generation = 0
        self.held = 0
        self._conn: AsyncConnection | None = None
        self._turn = asyncio.Lock()

    @classmethod
    def of(cls, db: Database) -> _LockSession:
        if db.lock_session is None:
            db.lock_session = cls(db)
        found: _LockSession = db.lock_session
        return found

    async def scalar(self, sql: str, key: int) -> tuple[object, int]:
        """``sql`` with ``:k`` = ``key``, and the generation of the connection it ran on."""
        async with self._turn:
            if self._conn is None:
                conn = await self.db.engine.connect()
                try:
                    self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                except BaseException:
                    await conn.close()
                    raise
                self.generation += 1
            try:
                return await self._conn.scalar(text(sql), {"k": key}), self.generation
            except BaseException:
                await self._drop()  # its state is unknown; PostgreSQL frees what it held
                raise

    async def release_one(self) -> None:
        self.held = max(0, self.held - 1)
        await self.close_if_idle()

    async def close_if_idle(self) -> None:
        async with self._turn:
            if self.held == 0:
                await self._drop()

    async def _drop(self) -> None:
        conn, self._conn, self.held = self._conn, None, 0
        if conn is not None:
            try:
                await conn.close()
            except Exception as exc:
                log.debug("closing the poll lock connection failed: %s", exc)


class SourceLock:
    """Held: only this replica polls ``source``."""

    def __init__(self, db: Database, source: str) -> None:
        self.db = db
        self.source = source
        self.key = lock_key(source)
        self._generation: int | None = None  # of the session holding it; None: not held

    @property
    def held(self) -> bool:
        return self.db.is_sqlite or self._generation is not None

    async def acquire(self) -> bool:
        if self.db.is_sqlite:
            return True
        if self._generation is not None:
            return await self.check()
        session = _LockSession.of(self.db)
        got, generation = await session.scalar("SELECT pg_try_advisory_lock(:k)", self.key)
        if got:
            self._generation = generation
            session.held += 1
        return bool(got)

    async def check(self) -> bool:
        """Still ours? A lost session means PostgreSQL has let the lock go."""
        if self.db.is_sqlite:
            return True
        if self._generation is None:
            return False
        try:
            _, generation = await _LockSession.of(self.db).scalar("SELECT :k", self.key)
        except Exception as exc:
            log.warning("lost the poll lock of %s (%s)", self.source, exc)
            self._generation = None
            return False
        if generation != self._generation:
            log.warning("lost the poll lock of %s (its database session ended)", self.source)
            self._generation = None
            await _LockSession.of(self.db).close_if_idle()  # this check opened it for nothing
            return False
        return True

    async def release(self) -> None:
        generation, self._generation = self._generation, None
        session = self.db.lock_session
        if generation is None or session is None or session.generation != generation:
            return  # not held, or gone with its session
        try:
            await session.scalar("SELECT pg_advisory_unlock(:k)", self.key)
        except Exception as exc:  # the connection is gone: so is the lock
            log.debug("unlock of %s failed: %s", self.source, exc)
            return
        await session.release_one()
