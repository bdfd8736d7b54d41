"""Failed credentials by client address, shared by every replica (bot.web.throttle).

A lookup is one indexed read of at most ``limit`` rows; a failure is one insert plus a
delete of every row that left the window (indexed by time), so the table holds only the
last window's failures whatever happens.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from storage.db import Database
from storage.models import AuthFailure


def key(address: str) -> str:
    """Addresses are stored hashed: the table says how often, not who."""
    return hashlib.sha256(address.encode("utf-8", "replace")).hexdigest()


async def recent(
    db: Database, address: str, now: datetime, window: timedelta, limit: int
) -> list[datetime]:
    """The newest ``limit`` failures of ``address`` within ``window`` before ``now``."""
    async with db.read() as session:
        rows = await session.scalars(
            select(AuthFailure.failed_at)
            .where(AuthFailure.address == key(address), AuthFailure.failed_at > now - window)
            .order_by(AuthFailure.failed_at.desc())
            .limit(limit)
        )
        return list(rows)


async def record(db: Database, address: str, now: datetime, window: timedelta) -> None:
    async with db.write() as session:
        await session.execute(delete(AuthFailure).where(AuthFailure.failed_at <= now - window))
        session.add(AuthFailure(address=key(address), failed_at=now))


async def count(db: Database) -> int:
    """Rows kept (tests: expired rows are gone)."""
    async with db.read() as session:
        return len(list(await session.scalars(select(AuthFailure.id))))
