"""The nudge outbox: claim due rows under a lease, record what the platform said.

A row moves ``pending -> sending -> sent | failed`` (or ``pending -> cancelled`` when the
conversation moved on first). ``next_attempt_at`` is the one wake-up column: for a pending row
it is when it may go out, for a sending row the end of its lease. A claim takes due rows with
``next_attempt_at <= now`` either way, so a process that died between claim and send only
delays its rows until its lease ends; nothing is lost. Each claim bumps ``attempts``, and a
result (or a renewal) is recorded only if ``attempts`` still matches the claim: the attempt
number is the lease token.

**Short leases, renewed while a call is in flight.** A claim holds its rows for ``LEASE``
(10 s); the deliverer renews every row it still holds every ``RENEW_EVERY`` until the
platform call's result is committed (``renew``), so a slow call (up to the deliverer's own
call timeout, 45 s) keeps its row, and a replica killed mid-delivery frees its rows within
one lease. The other replicas' schedulers arm at the earliest ``next_attempt_at``, which for
a held row is its lease end, so they look again as the lease runs out: takeover within
~10 s, and within the 10 s safety tick at worst. We chose this over tying claims to the
replica's database session (an advisory lock per replica, released when its connection
drops): that session is not the process — a database restart or a dropped connection ends
it while the process lives and its calls are still in flight, so the others would take over
and send a second time; a pooler in transaction mode (PgBouncer) cannot hold it at all; and
it needs a second mechanism on SQLite. A lease names the holder's intent directly, needs
nothing but the row, and fails safe: a holder that cannot renew (database gone) cannot be
overtaken by anyone else either (same database).

SQLite is one process per file, so a claim older than the process is a dead process's:
``void_claims`` makes every such row due at once when ``run`` starts (no waiting out a lease).

Claims are atomic per backend:

* PostgreSQL — ``WITH due AS (SELECT id FROM nudges WHERE next_attempt_at <= :now
  ORDER BY next_attempt_at LIMIT :n FOR UPDATE SKIP LOCKED) UPDATE nudges SET state =
  'sending', attempts = attempts + 1, lease_until = :lease, next_attempt_at = :lease FROM due
  WHERE nudges.id = due.id RETURNING …``: replicas skip each other's rows instead of queueing.
* SQLite — the same UPDATE with ``WHERE id IN (SELECT … LIMIT :n)``, made atomic by the
  ``BEGIN IMMEDIATE`` write lock every ``Database.write()`` takes.

``claim_for_lanes`` (what the deliverer uses) first picks which due rows to take — at most a
few per recipient, idle recipients first — then runs that same UPDATE on the picked ids, due
check and lock included, so the guarantee is the same.

**The one at-most-once window.** Between the platform accepting a message and our commit of
``sent`` (one single-row UPDATE issued right after the call returns), a crash leaves the row
``sending``; once its lease is void (restart on SQLite, lease end on PostgreSQL) it is
claimed and sent again. Neither Slack's ``chat.postMessage`` nor Telegram's ``sendMessage``
takes an idempotency key, so no protocol closes it; we keep it to the calls in flight at the
moment of the crash (results are recorded per row, as they arrive, not per batch, and a
result that cannot be written because the database is away is retried, its lease renewed,
rather than dropped).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Select,
    Table,
    bindparam,
    case,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage.models import Nudge

LEASE = timedelta(seconds=10)
RENEW_EVERY = LEASE / 3  # two renewals may fail (a slow commit) before the lease runs out


class State(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # a placeholder: records a ladder slot, sends nothing


class UpdateState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"


FINAL_OUTCOMES = ("answered", "not_needed")


@dataclass(frozen=True)
class Claimed:
    id: int
    attempt: int
    conversation_id: int
    period_start: datetime
    step: str
    recipient_person: str | None
    recipient_platform: str
    recipient_address: str
    not_before: datetime


def rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def claimable(
    session: AsyncSession, due: Select[tuple[int]], key: InstrumentedAttribute[int] = Nudge.id
) -> ColumnElement[bool]:
    """``due`` (ids of the table ``key`` is the id of: nudges, unless told) as what
    ``UPDATE … WHERE`` should match, locked on PostgreSQL (SKIP LOCKED: replicas claim
    different rows)."""
    if session.bind.dialect.name == "postgresql":
        cte = due.with_for_update(skip_locked=True).cte("due")
        return key == cte.c.id
    return key.in_(due.scalar_subquery())


def _due_now(now: datetime) -> ColumnElement[bool]:
    n = Nudge
    return (n.next_attempt_at <= now) & n.state.in_((State.PENDING, State.SENDING))


async def _claim(
    session: AsyncSession, due: Select[tuple[int]], now: datetime, lease: timedelta
) -> list[Claimed]:
    n = Nudge
    stmt = (
        update(n)
        .where(claimable(session, due))
        .values(
            state=State.SENDING,
            attempts=n.attempts + 1,
            lease_until=now + lease,
            next_attempt_at=now + lease,
        )
        .returning(
            n.id,
            n.attempts,
            n.conversation_id,
            n.period_start,
            n.step,
            n.recipient_person,
            n.recipient_platform,
            n.recipient_address,
            n.not_before,
        )
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).tuples().all()
    return sorted((Claimed(*r) for r in rows), key=lambda c: (c.not_before, c.id))


async def claim_deliveries(
    session: AsyncSession, now: datetime, limit: int, lease: timedelta = LEASE
) -> list[Claimed]:
    n = Nudge
    due = select(n.id).where(_due_now(now)).order_by(n.next_attempt_at).limit(limit)
    return await _claim(session, due, now, lease)


Lane = tuple[str, str]  # (recipient_platform, recipient_address): one paced conversation


def lane(c: Claimed) -> Lane:
    return (c.recipient_platform, c.recipient_address)


@dataclass(frozen=True)
class LaneClaim:
    rows: list[Claimed]
    drained: bool  # nothing else is due now for a lane that had room


async def claim_for_lanes(
    session: AsyncSession,
    now: datetime,
    room: int,
    load: Mapping[Lane, int],
    depth: Callable[[Lane], int],
    lease: timedelta = LEASE,
) -> LaneClaim:
    """Claim up to ``room`` due rows, at most ``depth(lane)`` per lane counting ``load``
    (what the caller already has in flight there): idle lanes first, then oldest due first.

    A platform that paces each recipient (Slack: a message a second per channel) only lets
    rows beyond a small depth queue behind each other, holding their lease, while other
    lanes sit idle. Full lanes are left out in SQL; the claim itself is ``claim_deliveries``'
    statement on the chosen ids, with the same due check under the same lock (``FOR UPDATE
    SKIP LOCKED`` / ``BEGIN IMMEDIATE``), so a row another replica took meanwhile is skipped.
    """
    n = Nudge
    full = [key for key, count in load.items() if count >= depth(key)]
    window = 2 * room  # enough to fill the room unless a few lanes crowd the head
    candidates = select(n.id, n.recipient_platform, n.recipient_address).where(_due_now(now))
    if full:
        candidates = candidates.where(
            tuple_(n.recipient_platform, n.recipient_address).not_in(full)
        )
    # Claims whose holder died come first: they were due before anything still pending (a
    # held row's next_attempt_at is its lease end, which would queue it behind the backlog).
    # Few rows are ever in flight, so this is a short walk of their own partial index.
    expired = (
        select(n.id, n.recipient_platform, n.recipient_address)
        .where(n.state == State.SENDING, n.lease_until <= now)
        .order_by(n.lease_until)
        .limit(window)
    )
    if full:
        expired = expired.where(tuple_(n.recipient_platform, n.recipient_address).not_in(full))
    stale = (await session.execute(expired)).tuples().all()
    fresh = (
        (await session.execute(candidates.order_by(n.next_attempt_at).limit(window))).tuples().all()
    )
    taken = {row[0] for row in stale}
    found = [*stale, *(row for row in fresh if row[0] not in taken)]
    # Rank each candidate by how deep in its lane it would sit: every lane gets its next
    # row before any lane gets the one after, and due order decides within a rank.
    seen: Counter[Lane] = Counter(load)
    ranked: list[tuple[int, int, int]] = []
    for position, (nid, platform, address) in enumerate(found):
        key = (platform, address)
        if seen[key] < depth(key):
            ranked.append((seen[key], position, nid))
        seen[key] += 1
    picked = [nid for _, _, nid in sorted(ranked)[:room]]
    rows = (
        await _claim(session, select(n.id).where(n.id.in_(picked), _due_now(now)), now, lease)
        if picked
        else []
    )
    # Drained only if the windows held every candidate and all fitted: otherwise claim again.
    drained = len(fresh) < window and len(stale) < window and len(ranked) <= room
    return LaneClaim(rows, drained=drained)


async def mark_sent(
    session: AsyncSession, nudge_id: int, attempt: int, ref: str, now: datetime
) -> bool:
    """Record a delivery; False when the lease was lost (another replica took the row)."""
    return await mark_sent_many(session, [SentRecord(nudge_id, attempt, ref, now)]) == 1


@dataclass(frozen=True)
class SentRecord:
    id: int
    attempt: int
    ref: str
    at: datetime


def _mark_sent_statement() -> Any:
    t = cast(Table, Nudge.__table__)
    sent_at = bindparam("at", type_=t.c.sent_at.type)
    # An outcome that arrived mid-send is shown as soon as there is something to edit.
    update_at = case(
        (t.c.update_state == UpdateState.PENDING, bindparam("at2", type_=t.c.sent_at.type)),
        else_=None,
    )
    return (
        update(t)
        .where(
            t.c.id == bindparam("nid"),
            t.c.state == State.SENDING,
            t.c.attempts == bindparam("attempt"),
        )
        .values(
            state=State.SENT,
            sent_at=sent_at,
            platform_ref=bindparam("ref"),
            next_attempt_at=None,
            lease_until=None,
            last_error="",
            update_next_at=func.coalesce(t.c.update_next_at, update_at),
        )
    )


_MARK_SENT = _mark_sent_statement()


async def mark_sent_many(session: AsyncSession, records: Sequence[SentRecord]) -> int:
    """Record deliveries in one statement (compiled once, executed for every row); returns how
    many still held their lease — fewer than given means another replica took some over."""
    if not records:
        return 0
    params = [{"nid": r.id, "attempt": r.attempt, "ref": r.ref, "at": r.at, "at2": r.at}
              for r in records]  # fmt: skip
    result = await session.execute(_MARK_SENT, params)
    return rowcount(result)


async def mark_retry(
    session: AsyncSession, nudge_id: int, attempt: int, at: datetime, error: str
) -> bool:
    """Back to pending until ``at``; a row whose conversation moved on is cancelled instead."""
    n = Nudge
    moved_on = n.outcome.is_not(None)
    result = await session.execute(
        update(n)
        .where(n.id == nudge_id, n.state == State.SENDING, n.attempts == attempt)
        .values(
            state=case((moved_on, State.CANCELLED), else_=State.PENDING),
            next_attempt_at=case((moved_on, None), else_=at),
            lease_until=None,
            update_state=case((moved_on, None), else_=n.update_state),
            update_next_at=case((moved_on, None), else_=n.update_next_at),
            last_error=error[:2000],
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def mark_failed(
    session: AsyncSession, nudge_id: int, attempt: int, error: str, state: State = State.FAILED
) -> bool:
    """Give up on a claimed row: ``failed``, or ``cancelled`` when it is no longer wanted."""
    n = Nudge
    result = await session.execute(
        update(n)
        .where(n.id == nudge_id, n.state == State.SENDING, n.attempts == attempt)
        .values(
            state=state,
            next_attempt_at=None,
            lease_until=None,
            update_state=None,
            update_next_at=None,
            last_error=error[:2000],
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def next_work_at(session: AsyncSession) -> datetime | None:
    """The earliest moment any delivery or update is due (two index-only lookups)."""
    n = Nudge
    first = await session.scalar(
        select(n.next_attempt_at)
        .where(n.next_attempt_at.is_not(None))
        .order_by(n.next_attempt_at)
        .limit(1)
    )
    second = await session.scalar(
        select(n.update_next_at)
        .where(n.update_next_at.is_not(None))
        .order_by(n.update_next_at)
        .limit(1)
    )
    times = [t for t in (first, second) if t is not None]
    return min(times) if times else None


async def counts_by_state(session: AsyncSession) -> dict[str, int]:
    result = await session.execute(select(Nudge.state, func.count()).group_by(Nudge.state))
    return {state: int(count) for state, count in result.tuples()}


Held = tuple[int, int]  # (nudge id, attempt): a claim this process still holds


async def renew(
    session: AsyncSession, held: Sequence[Held], now: datetime, lease: timedelta = LEASE
) -> int:
    """Extend the lease of claims still held (same attempt, still ``sending``); returns how
    many were. A row another process took over meanwhile is left alone."""
    if not held:
        return 0
    n = Nudge
    result = await session.execute(
        update(n)
        .where(tuple_(n.id, n.attempts).in_(sorted(held)), n.state == State.SENDING)
        .values(lease_until=now + lease, next_attempt_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


async def void_claims(session: AsyncSession, now: datetime) -> int:
    """Make every claimed row due now: its holder is gone (SQLite, at start: one process per
    file). The attempt stays, so a late result of the dead claim could never be recorded, and
    the next claim bumps it as usual. Returns how many deliveries were freed."""
    n = Nudge
    result = await session.execute(
        update(n)
        .where(n.state == State.SENDING)
        .values(lease_until=now, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(n)
        .where(n.update_state == UpdateState.SENDING, n.state == State.SENT)
        .values(update_next_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)
