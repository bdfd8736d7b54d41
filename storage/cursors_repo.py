"""Poll cursors (one opaque string per polled source) and the per-source poll lock.

The lock is a PostgreSQL session advisory lock (``pg_try_advisory_lock``) held on a dedicated
AUTOCOMMIT connection for as long as this replica polls the source, so exactly one replica
polls it; when that connection dies (database restart, network), PostgreSQL drops the lock and
another replica may take over. SQLite assumes a single process: the lock is always granted.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database
from storage.models import PollCursor

log = logging.getLogger("nudgebot.polling")


async def load_cursor(db: Database, source: str) -> str | None:
    async with db.read() as session:
        found: str | None = await session.scalar(
            select(PollCursor.cursor).where(PollCursor.source == source)
        )
    return found


async def save_cursor(db: Database, source: str, cursor: str, at: datetime) -> None:
    insert = postgresql.insert if not db.is_sqlite else sqlite.insert
    stmt = insert(PollCursor).values(source=source, cursor=cursor, updated_at=at)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source"], set_={"cursor": cursor, "updated_at": at}
    )
    async with db.write() as session:
        await session.execute(stmt)


def lock_key(source: str) -> int:
    """A stable signed 64-bit key per source: every replica computes the same one."""
    digest = hashlib.sha256(f"nudgebot:poll:{source}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SourceLock:
    """Held: only this replica polls ``source``."""

    def __init__(self, db: Database, source: str) -> None:
        self.db = db
        self.source = source
        self.key = lock_key(source)
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self.db.is_sqlite or self._conn is not None

    async def acquire(self) -> bool:
        if self.db.is_sqlite:
            return True
        if self._conn is not None:
            return await self.check()
        conn = await self.db.engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
        except BaseException:
            await conn.close()
            raise
        if got:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def check(self) -> bool:
        """Still ours? A dead lock connection means PostgreSQL has let the lock go."""
        if self.db.is_sqlite:
            return True
        if self._conn is None:
            return False
        try:
            await self._conn.scalar(text("SELECT 1"))
            return True
        except Exception as exc:
            log.warning("lost the poll lock of %s (%s)", self.source, exc)
            await self._drop()
            return False

    async def release(self) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        except Exception as exc:  # the connection is gone: so is the lock
            log.debug("unlock of %s failed: %s", self.source, exc)
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception as exc:
                log.debug("closing the lock connection of %s failed: %s", self.source, exc)
