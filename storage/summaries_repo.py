"""Summary messages (one per recipient lane) and the batching facts behind them.

A ``nudge_summaries`` row stands for one recipient (platform, address). It is created on
first need and then locked (``SELECT … FOR UPDATE`` on PostgreSQL, SQLite's write lock)
whenever a claim decides whether that recipient's due nudges go out one by one or into the
summary, so two replicas never both decide "one by one" for the same burst. The summary
message itself is claimed like an outbox row: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
lease in ``next_attempt_at``, the attempt number as lease token, ``version`` bumped by every
change so a change made while it was being sent is sent too (storage.outbox_repo has the
at-most-once window this shares).

Sending them is storage.summary_claims_repo. Lock order, as everywhere in the outbox: nudge rows
first, summary rows after them, summary rows in (platform, address) order.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    case,
    func,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_for
from storage.models import Nudge, NudgeSummary, SummaryPost
from storage.outbox_repo import LEASE, State, rowcount
from storage.rawsql import chunks

BATCHED = "batched"  # a nudges.state: stands in a summary message instead of its own
HOUR = timedelta(hours=1)
# An edit is owed no sooner than this after the change that asked for it, and later changes
# join it: one edit a couple of seconds for a summary however fast its nudges come (Slack's
# chat.update and Telegram's editMessageText are rate-limited per chat).
EDIT_DELAY = timedelta(seconds=2)
Lane = tuple[str, str]  # (recipient_platform, recipient_address)


class SummaryState(enum.StrEnum):
    IDLE = "idle"
    PENDING = "pending"
    SENDING = "sending"
    FAILED = "failed"


@dataclass(frozen=True)
class LaneSummary:
    id: int
    window_until: datetime | None
    post_due: bool
    platform_ref: str | None


@dataclass(frozen=True)
class LaneCounts:
    recent: int  # messages of their own in the batch window, in flight included
    upcoming: int  # pending nudges due before the window ends
    last_hour: int  # messages in the last hour (nudges and summary posts), in flight included
    free_at: datetime | None  # when the hour has room again, if it has none now


async def lock_lanes(
    session: AsyncSession, lanes: Sequence[tuple[str, str, str | None]]
) -> dict[Lane, LaneSummary]:
    """The summary rows of ``lanes`` (created if new), locked for this transaction."""
    people = {(p, a): person for p, a, person in lanes}
    found = await _locked(session, sorted(people))
    missing = sorted(k for k in people if k not in found)
    if missing:
        rows = [
            {"recipient_platform": p, "recipient_address": a, "recipient_person": people[(p, a)],
             "reason": "batch", "post_due": False, "held_back": 0, "state": SummaryState.IDLE,
             "attempts": 0, "version": 0, "last_error": ""}
            for p, a in missing
        ]  # fmt: skip
        await session.execute(
            insert_for(session, NudgeSummary).on_conflict_do_nothing(
                index_elements=["recipient_platform", "recipient_address"]
            ),
            rows,
        )
        found.update(await _locked(session, missing))
    return found


async def _locked(session: AsyncSession, lanes: Sequence[Lane]) -> dict[Lane, LaneSummary]:
    if not lanes:
        return {}
    s = NudgeSummary
    stmt = (
        select(s.id, s.recipient_platform, s.recipient_address, s.window_until, s.post_due,
               s.platform_ref)
        .where(tuple_(s.recipient_platform, s.recipient_address).in_(list(lanes)))
        .order_by(s.recipient_platform, s.recipient_address)
    )  # fmt: skip
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    out: dict[Lane, LaneSummary] = {}
    for sid, platform, address, until, post_due, ref in (await session.execute(stmt)).tuples():
        out[(platform, address)] = LaneSummary(sid, until, bool(post_due), ref)
    return out


def lane_of(lane: Lane) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (Nudge.recipient_platform == lane[0], Nudge.recipient_address == lane[1])


def _bounded(
    table: type[Nudge] | type[SummaryPost], where: Sequence[ColumnElement[bool]], cap: int
) -> ScalarSelect[int]:
    """How many rows match, counting no further than ``cap``: the decision only needs to
    know whether a limit is passed, and this keeps its cost to that many index entries."""
    inner = select(table.id).where(*where).limit(max(1, cap)).subquery()
    return select(func.count()).select_from(inner).scalar_subquery()


def _count_columns(
    lane: Lane, now: datetime, limits: tuple[int, timedelta, int], claimed: Sequence[int]
) -> list[ScalarSelect[int]]:
    batch_after, window, per_hour = limits
    n = Nudge
    need = batch_after + 1
    return [
        _bounded(Nudge, [*lane_of(lane), n.sent_at >= now - window], need),
        _bounded(Nudge, [*lane_of(lane), n.next_attempt_at.is_not(None),
                         n.next_attempt_at <= now + LEASE, n.state == State.SENDING,
                         n.id.not_in(claimed) if claimed else true()],
                 max(need, per_hour)),
        _bounded(Nudge, [*lane_of(lane), n.next_attempt_at.is_not(None),
                         n.next_attempt_at <= now + window, n.state == State.PENDING],
                 need),
        _bounded(Nudge, _hour_nudges(lane, now), per_hour),
        _bounded(SummaryPost, _hour_posts(lane, now), per_hour),
    ]  # fmt: skip


def _hour_nudges(lane: Lane, now: datetime) -> list[ColumnElement[bool]]:
    return [*lane_of(lane), Nudge.sent_at > now - HOUR]


def _hour_posts(lane: Lane, now: datetime) -> list[ColumnElement[bool]]:
    p = SummaryPost
    return [p.recipient_platform == lane[0], p.recipient_address == lane[1], p.at > now - HOUR]


async def _counts(
    session: AsyncSession, lane: Lane, now: datetime, per_hour: int, row: Sequence[Any]
) -> LaneCounts:
    recent, in_flight, upcoming, sent, posted = (int(x or 0) for x in row)
    free_at = None
    if sent + posted >= per_hour:
        # Full: the hour has room again once its per_hour-th newest message is an hour old.
        n, p = Nudge, SummaryPost
        times = [
            *(await session.scalars(select(n.sent_at).where(*_hour_nudges(lane, now))
                                    .order_by(n.sent_at.desc()).limit(per_hour))).all(),
            *(await session.scalars(select(p.at).where(*_hour_posts(lane, now))
                                    .order_by(p.at.desc()).limit(per_hour))).all(),
        ]  # fmt: skip
        newest = sorted((t for t in times if t is not None), reverse=True)
        free_at = newest[per_hour - 1] + HOUR
    return LaneCounts(recent + in_flight, upcoming, sent + posted + in_flight, free_at)


async def lane_counts(
    session: AsyncSession,
    lane: Lane,
    now: datetime,
    limits: tuple[int, timedelta, int],
    claimed: Sequence[int],
) -> LaneCounts:
    """What ``lane`` got lately and has coming, leaving out ``claimed`` (being decided).

    ``limits`` is (batch_after, batch_window, max_messages_per_hour). One statement; each of
    its counts is a range of one recipient's index entries (``ix_nudges_lane``: sent_at;
    ``ix_nudges_lane_due``: next_attempt_at) cut off at the limit it is compared with,
    whatever the history."""
    row = (await session.execute(select(*_count_columns(lane, now, limits, claimed)))).one()
    return await _counts(session, lane, now, limits[2], row)


async def lock_and_count(
    session: AsyncSession,
    lane: Lane,
    person: str | None,
    now: datetime,
    limits: tuple[int, timedelta, int],
    claimed: Sequence[int],
) -> tuple[LaneSummary, LaneCounts]:
    """``lock_lanes`` and ``lane_counts`` for one lane in one round trip (the claim path)."""
    s = NudgeSummary
    stmt = select(s.id, s.window_until, s.post_due, s.platform_ref,
                  *_count_columns(lane, now, limits, claimed)).where(
        s.recipient_platform == lane[0], s.recipient_address == lane[1]
    )  # fmt: skip
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=s)
    found = (await session.execute(stmt)).first()
    if found is None:
        locked = (await lock_lanes(session, [(lane[0], lane[1], person)]))[lane]
        return locked, await lane_counts(session, lane, now, limits, claimed)
    sid, until, post_due, ref, *counts = found
    summary = LaneSummary(int(sid), until, bool(post_due), ref)
    return summary, await _counts(session, lane, now, limits[2], counts)


async def batch_rows(session: AsyncSession, ids: Sequence[int], now: datetime, note: str) -> int:
    """Claimed rows (this transaction holds them) into the summary instead of out alone."""
    n = Nudge
    done = 0
    for part in chunks(sorted(ids)):
        result = await session.execute(
            update(n)
            .where(n.id.in_(part), n.state == State.SENDING)
            .values(state=BATCHED, next_attempt_at=None, lease_until=None, last_error=note)
            .execution_options(synchronize_session=False)
        )
        done += rowcount(result)
    return done


async def sweep_lane(session: AsyncSession, lane: Lane, now: datetime, note: str) -> int:
    """Every other nudge due for ``lane`` into the summary too, in this one transaction:
    thousands due at once cost one statement, not a claim each. Rows another transaction
    holds are skipped (they are being decided there), so this never waits on a row."""
    n = Nudge
    due = (
        select(n.id)
        .where(n.next_attempt_at.is_not(None), n.next_attempt_at <= now, *lane_of(lane),
               n.state == State.PENDING)
        .order_by(n.id)
    )  # fmt: skip
    if session.bind.dialect.name == "postgresql":
        cte = due.with_for_update(skip_locked=True).cte("due")
        where = n.id == cte.c.id
    else:
        where = n.id.in_(due.scalar_subquery())
    result = await session.execute(
        update(n)
        .where(where)
        .values(state=BATCHED, next_attempt_at=None, lease_until=None, last_error=note)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


async def touch(
    session: AsyncSession,
    summary_id: int,
    at: datetime,
    *,
    post: bool = False,
    reason: str | None = None,
    held: int = 0,
    window_until: datetime | None = None,
) -> None:
    """Owe the summary a send (``post``: a new message) or an edit, no sooner than ``at``."""
    s = NudgeSummary
    sending = s.state == SummaryState.SENDING
    values: dict[str, object] = {
        "version": s.version + 1,
        "held_back": s.held_back + held,
        "state": case((sending, SummaryState.SENDING), else_=SummaryState.PENDING),
        "next_attempt_at": case(
            (sending, s.next_attempt_at),
            (
                (s.state == SummaryState.PENDING) & (s.next_attempt_at.is_not(None))
                & (s.next_attempt_at < at),
                s.next_attempt_at,
            ),
            else_=at,
        ),
    }  # fmt: skip
    if post:
        values["post_due"] = True
    if reason is not None:
        values["reason"] = reason
    if window_until is not None:
        values["window_until"] = window_until
    await session.execute(
        update(s).where(s.id == summary_id).values(**values)
        .execution_options(synchronize_session=False)
    )  # fmt: skip


async def touch_for_nudges(session: AsyncSession, nudge_ids: Sequence[int], now: datetime) -> int:
    """Owe an edit to the summaries that batched nudges ``nudge_ids`` stand in (their
    conversation moved on: answered, claimed, snoozed, not needed)."""
    if not nudge_ids:
        return 0
    n = Nudge
    lanes: set[Lane] = set()
    for part in chunks(sorted(nudge_ids)):
        found = await session.execute(
            select(n.recipient_platform, n.recipient_address).where(n.id.in_(part)).distinct()
        )
        lanes.update((p, a) for p, a in found.tuples())
    return await touch_lanes(session, lanes, now)


async def touch_lanes(session: AsyncSession, lanes: Iterable[Lane], now: datetime) -> int:
    """Owe an edit to the summary messages already posted to ``lanes``."""
    wanted = sorted(set(lanes))
    if not wanted:
        return 0
    s = NudgeSummary
    stmt = (
        select(s.id)
        .where(tuple_(s.recipient_platform, s.recipient_address).in_(wanted),
               s.platform_ref.is_not(None))
        .order_by(s.recipient_platform, s.recipient_address)
    )  # fmt: skip
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    ids = list((await session.scalars(stmt)).all())
    for sid in ids:
        await touch(session, sid, now + EDIT_DELAY)
    return len(ids)


async def request(
    session: AsyncSession,
    lanes: Sequence[tuple[str, str, str | None, datetime]],
    reason: str,
) -> int:
    """A new summary message for each (platform, address, person, not before)."""
    locked = await lock_lanes(session, [(p, a, person) for p, a, person, _ in lanes])
    for platform, address, _person, at in sorted(lanes, key=lambda x: (x[0], x[1])):
        await touch(session, locked[(platform, address)].id, at, post=True, reason=reason)
    return len(locked)
