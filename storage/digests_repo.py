"""Weekly digests: claim a (person, week) before sending, record the result after.

The primary key (person, week) is the once-only guard. A claim inserts the row as
``sending`` with a lease; a replica that loses the insert race gets nothing. A row left
``sending`` past its lease (the sender died, or a send failed and asked for a retry) is
re-claimed by one conditional UPDATE that bumps ``attempts``; results are recorded only while
``attempts`` still matches, so the attempt number is the lease token (as in storage.outbox_repo).
On PostgreSQL the UPDATE re-checks its WHERE after the row lock, on SQLite the write lock of
``BEGIN IMMEDIATE`` serialises claims, so either way exactly one claimer wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DigestRecord

LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5
SENDING, SENT, FAILED = "sending", "sent", "failed"


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


async def claim(session: AsyncSession, person: str, week: str, now: datetime) -> int | None:
    """The attempt number if this caller may send the digest now, else None."""
    values = {
        "person": person,
        "week": week,
        "state": SENDING,
        "attempts": 1,
        "lease_until": now + LEASE,
        "last_error": "",
    }
    dialect = session.bind.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # RETURNING rather than rowcount: psycopg's async cursor reports -1 for this INSERT.
    stmt = (
        insert(DigestRecord)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["person", "week"])
        .returning(DigestRecord.attempts)
    )
    if (await session.execute(stmt)).scalar_one_or_none() is not None:
        return 1
    d = DigestRecord
    taken = await session.execute(
        update(d)
        .where(
            d.person == person,
            d.week == week,
            d.state == SENDING,
            d.lease_until <= now,
            d.attempts < MAX_ATTEMPTS,
        )
        .values(attempts=d.attempts + 1, lease_until=now + LEASE)
        .returning(d.attempts)
    )
    attempt = taken.scalar_one_or_none()
    return int(attempt) if attempt is not None else None


async def finish(
    session: AsyncSession,
    person: str,
    week: str,
    attempt: int,
    *,
    now: datetime,
    ref: str | None = None,
    error: str = "",
    retry_at: datetime | None = None,
) -> bool:
    """Record the attempt's result: sent (``ref``), retry later (``retry_at``), or failed for
    good. False when the claim was lost meanwhile (a later attempt owns the row)."""
    d = DigestRecord
    if ref is not None:
        values: dict[str, object] = {
            "state": SENT,
            "sent_at": now,
            "platform_ref": ref,
            "lease_until": None,
            "last_error": "",
        }
    elif retry_at is not None and attempt < MAX_ATTEMPTS:
        values = {"lease_until": retry_at, "last_error": error[:2000]}
    else:
        values = {"state": FAILED, "lease_until": None, "last_error": error[:2000]}
    result = await session.execute(
        update(d)
        .where(d.person == person, d.week == week, d.attempts == attempt, d.state == SENDING)
        .values(**values)
    )
    return _rowcount(result) == 1


async def record(session: AsyncSession, person: str, week: str) -> DigestRecord | None:
    found: DigestRecord | None = await session.scalar(
        select(DigestRecord).where(DigestRecord.person == person, DigestRecord.week == week)
    )
    return found


async def states(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(person, week) -> state for the given keys that have a row: primary-key lookups, so a
    scheduler tick that asks about every owner reads a handful of rows, never history."""
    if not keys:
        return {}
    d = DigestRecord
    rows = await session.execute(
        select(d.person, d.week, d.state).where(tuple_(d.person, d.week).in_(list(keys)))
    )
    return {(person, week): state for person, week, state in rows.tuples()}
