"""Dashboard sessions: created at sign-in, looked up per request, deleted at sign-out.

Rows are keyed by the SHA-256 of the session id; the id itself only lives in the cookie.
A session ends when it is deleted (logout), when it was idle for ``idle``, or when it is
older than ``absolute`` — checked here on every lookup, so every replica agrees.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from storage.db import Database
from storage.models import DashboardSession

TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often per session


def key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def create(db: Database, session_id: str, now: datetime, idle: timedelta,
                 absolute: timedelta) -> None:  # fmt: skip
    async with db.write() as session:
        # Sign-ins are rare: a good moment to drop sessions that ended on their own.
        await session.execute(
            delete(DashboardSession).where(
                or_(
                    DashboardSession.last_seen_at < now - idle,
                    DashboardSession.created_at < now - absolute,
                )
            )
        )
        session.add(DashboardSession(id=key(session_id), created_at=now, last_seen_at=now))


async def alive(db: Database, session_id: str, now: datetime, idle: timedelta,
                absolute: timedelta) -> bool:  # fmt: skip
    """Whether the session exists and has not expired; marks it seen."""
    k = key(session_id)
    async with db.read() as session:
        row = (
            await session.execute(
                select(DashboardSession.created_at, DashboardSession.last_seen_at).where(
                    DashboardSession.id == k
                )
            )
        ).first()
    if row is None:
        return False
    created, seen = row
    if now - seen > idle or now - created > absolute or created > now + timedelta(minutes=1):
        return False
    if now - seen >= TOUCH_EVERY:
        async with db.write() as session:
            await session.execute(
                update(DashboardSession).where(DashboardSession.id == k).values(last_seen_at=now)
            )
    return True


async def end(db: Database, session_id: str) -> None:
    async with db.write() as session:
        gone = delete(DashboardSession).where(DashboardSession.id == key(session_id))
        await session.execute(gone)
