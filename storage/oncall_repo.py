"""Stored on-call overrides (``oncall take``) and the once-only guard for hand-off notices.

A hand-off row is claimed before its notice is sent: the INSERT … ON CONFLICT DO NOTHING wins
for exactly one replica; a row left ``sending`` past its lease (the sender died) or marked for
a retry is taken over by a compare-and-set UPDATE, which also exactly one replica wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import Database
from storage.models import OncallHandoff, OncallOverride
from storage.records import StoredOverride

__all__ = ["StoredOverride"]  # defined in storage.records, which the fast read path shares

SENDING, SENT, FAILED = "sending", "sent", "failed"


async def add_override(
    db: Database,
    *,
    rotation: str,
    person: str,
    start: datetime,
    end: datetime,
    created_at: datetime,
    created_by: str = "",
    note: str = "",
) -> StoredOverride:
    row = OncallOverride(
        rotation=rotation,
        person=person,
        starts_at=start,
        ends_at=end,
        created_at=created_at,
        created_by=created_by,
        note=note,
    )
    async with db.write() as session:
        session.add(row)
        await session.flush()
        return _stored(row)


async def load_overrides(db: Database, *, ending_after: datetime) -> list[StoredOverride]:
    """Overrides still relevant after ``ending_after``, oldest created first."""
    o = OncallOverride
    query = select(o).where(o.ends_at > ending_after).order_by(o.created_at, o.id)
    async with db.read() as session:
        return [_stored(row) for row in (await session.scalars(query)).all()]


def _stored(row: OncallOverride) -> StoredOverride:
    return StoredOverride(
        row.id,
        row.rotation,
        row.person,
        row.starts_at,
        row.ends_at,
        row.created_at,
        row.created_by,
        row.note,
    )


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


async def claim_handoff(
    db: Database,
    *,
    rotation: str,
    person: str,
    turn_start: datetime,
    turn_end: datetime,
    now: datetime,
    lease: timedelta,
    max_attempts: int,
) -> int | None:
    """The attempt number this caller owns for the notice, or None when it is not ours to send
    (sent already, given up on, or being sent by another replica right now)."""
    h = OncallHandoff
    key = (h.rotation == rotation, h.turn_start == turn_start, h.person == person)
    # A plain read first: callers ask every round for as long as the turn is fresh.
    async with db.read() as session:
        row = (
            await session.execute(select(h.state, h.attempts, h.lease_until).where(*key))
        ).first()
    if row is not None and not _retryable(row[0], row[1], row[2], now, max_attempts):
        return None
    insert = sqlite.insert if db.is_sqlite else postgresql.insert
    fresh = (
        insert(h)
        .values(
            rotation=rotation,
            person=person,
            turn_start=turn_start,
            turn_end=turn_end,
            state=SENDING,
            attempts=1,
            lease_until=now + lease,
            created_at=now,
            last_error="",
        )
        .on_conflict_do_nothing(index_elements=["rotation", "turn_start", "person"])
        .returning(h.id)
    )
    async with db.write() as session:
        if row is None and (await session.execute(fresh)).scalar_one_or_none() is not None:
            return 1
        current = await session.scalar(select(h.attempts).where(*key))
        if current is None or current >= max_attempts:
            return None
        retake = (
            update(h)
            .where(
                *key,
                h.state == SENDING,
                h.attempts == current,
                or_(h.lease_until.is_(None), h.lease_until <= now),
            )
            .values(attempts=current + 1, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        return current + 1 if _rowcount(await session.execute(retake)) == 1 else None


def _retryable(
    state: str, attempts: int, lease_until: datetime | None, now: datetime, max_attempts: int
) -> bool:
    return (
        state == SENDING and attempts < max_attempts and (lease_until is None or lease_until <= now)
    )


async def finish_handoff(
    db: Database,
    rotation: str,
    person: str,
    turn_start: datetime,
    *,
    attempt: int,
    now: datetime,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Sent (``error`` None), failed for good (``retry_at`` None) or to be retried then."""
    h = OncallHandoff
    if error is None:
        values: dict[str, object] = {"state": SENT, "sent_at": now, "lease_until": None}
    elif retry_at is None:
        values = {"state": FAILED, "last_error": error[:500], "lease_until": None}
    else:
        values = {"last_error": error[:500], "lease_until": retry_at}
    stmt = (
        update(h)
        .where(
            h.rotation == rotation,
            h.turn_start == turn_start,
            h.person == person,
            h.attempts == attempt,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    async with db.write() as session:
        await session.execute(stmt)


async def handoff_states(db: Database, rotation: str) -> list[tuple[datetime, str, str, int]]:
    """(turn start, person, state, attempts) of a rotation's notices, oldest first."""
    h = OncallHandoff
    query = (
        select(h.turn_start, h.person, h.state, h.attempts)
        .where(h.rotation == rotation)
        .order_by(h.turn_start, h.person)
    )
    async with db.read() as session:
        return [(a, b, c, d) for a, b, c, d in (await session.execute(query)).tuples()]
