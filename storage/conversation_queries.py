"""Read queries behind `waiting` and `stats`: each one is served by an index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import Select, SQLColumnExpression, and_, case, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Conversation, Message, Nudge, WaitingPeriod
from storage.rawsql import chunks
from storage.records import WaitingRecord

__all__ = ["WaitingRecord"]  # defined in storage.records, which the fast read path shares


def record_columns() -> list[Any]:
    """A ``WaitingRecord``'s columns but ``last_message_at``, ``nudges_sent`` counting the
    current period's nudges delivered alone or inside a summary (the outbox's unique key
    serves it). The waiting page and summaries read these; ``waiting`` adds the last one."""
    c = Conversation
    sent = (
        select(func.count())
        .where(Nudge.conversation_id == c.id, Nudge.period_start == c.waiting_since,
               or_(Nudge.state == "sent", Nudge.summarised_at.is_not(None)))
        .correlate(c)
        .scalar_subquery()
    )  # fmt: skip
    return [
        c.id, c.source, c.platform, c.channel, c.thread, c.customer_id, c.customer_name,
        c.waiting_since, c.due_at, c.claimed_by, sent, c.last_text, c.url,
    ]  # fmt: skip


async def waiting(
    session: AsyncSession,
    *,
    source: str | None = None,
    limit: int | None = None,
    since: datetime | None = None,
) -> list[WaitingRecord]:
    """Waiting conversations, oldest first; ``since``: only those waiting since then."""
    c = Conversation
    stmt = (
        select(*record_columns(), c.last_message_at)
        .where(c.waiting_since.is_not(None))
        .order_by(c.waiting_since, c.id)
    )
    if source is not None:
        stmt = stmt.where(c.source == source)
    if since is not None:
        stmt = stmt.where(c.waiting_since == since)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [WaitingRecord(*row) for row in (await session.execute(stmt)).tuples()]


async def waiting_groups(
    session: AsyncSession, ids: Sequence[int]
) -> tuple[dict[tuple[str, str | None], int], WaitingRecord | None]:
    """Of the conversations ``ids``, those waiting counted per (source, claimed by) — all
    that decides who is responsible — and the oldest of them: an import's summary, from
    one row per group instead of one per conversation."""
    c = Conversation
    counts: dict[tuple[str, str | None], int] = {}
    first: datetime | None = None
    for part in chunks(sorted(ids)):
        stmt = (
            select(c.source, c.claimed_by, func.count(), func.min(c.waiting_since))
            .where(c.id.in_(part), c.waiting_since.is_not(None))
            .group_by(c.source, c.claimed_by)
        )
        for source, claimed_by, count, since in (await session.execute(stmt)).tuples():
            counts[(source, claimed_by)] = counts.get((source, claimed_by), 0) + count
            if since is not None and (first is None or since < first):
                first = since
    if first is None:
        return counts, None
    wanted = set(ids)  # conversations waiting since the very same instant are few
    tied = await waiting(session, since=first)
    return counts, next(r for r in tied if r.id in wanted)


async def count_waiting_by_source(
    session: AsyncSession,
) -> dict[str, tuple[int, datetime | None]]:
    c = Conversation
    stmt = (
        select(c.source, func.count(), func.min(c.waiting_since))
        .where(c.waiting_since.is_not(None))
        .group_by(c.source)
    )
    out: dict[str, tuple[int, datetime | None]] = {}
    for source, count, oldest in (await session.execute(stmt)).tuples():
        out[source] = (count, oldest)
    return out


@dataclass(frozen=True)
class PeriodRecord:
    source: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    answered_by: str | None
    due_at: datetime | None


async def periods_between(
    session: AsyncSession, since: datetime, until: datetime
) -> list[PeriodRecord]:
    p = WaitingPeriod
    stmt = select(p.source, p.started_at, p.ended_at, p.end_reason, p.answered_by, p.due_at).where(
        p.started_at >= since, p.started_at < until
    )
    return [PeriodRecord(*row) for row in (await session.execute(stmt)).tuples()]


@dataclass(frozen=True)
class FirstResponseRecord:
    source: str
    started_at: datetime
    first_response_at: datetime | None
    first_responder: str | None


async def first_responses_between(
    session: AsyncSession, since: datetime, until: datetime
) -> list[FirstResponseRecord]:
    c = Conversation
    stmt = select(c.source, c.started_at, c.first_response_at, c.first_responder).where(
        c.started_at >= since, c.started_at < until
    )
    return [
        FirstResponseRecord(source, started, first, who)
        for source, started, first, who in (await session.execute(stmt)).tuples()
        if started is not None  # the range condition excludes NULL; this tells mypy
    ]


@dataclass(frozen=True)
class TeamMessageCount:
    source: str
    who: str
    replies: int
    broadcasts: int


async def team_messages_between(
    session: AsyncSession, since: datetime, until: datetime
) -> list[TeamMessageCount]:
    """Replies (after a customer spoke in the thread) and broadcasts (no customer ever did).

    "After" is the domain's order: platform time, then message id, so a team message in the
    same instant as the conversation's first customer message is a reply only when its id
    sorts after that message's (ids compare by code point, as Python's sort does).
    """
    m = Message
    who = func.coalesce(m.person, m.author_id)
    stmt = _team_messages(session, since, until, [m.source, who])
    return [
        TeamMessageCount(s, w, int(r or 0), int(b or 0))
        for s, w, r, b in (await session.execute(stmt)).tuples()
    ]


async def team_messages_per_bucket(
    session: AsyncSession, bounds: Sequence[datetime]
) -> dict[int, tuple[int, int]]:
    """``team_messages_between`` summed per bucket [bounds[i], bounds[i+1]) by the message's
    time: (replies, broadcasts) per bucket index, in one statement (the weekly trend)."""
    if len(bounds) < 2:
        return {}
    m = Message
    bucket = case(
        *((and_(m.at >= lo, m.at < hi), i) for i, (lo, hi) in enumerate(pairwise(bounds)))
    )
    stmt = _team_messages(session, bounds[0], bounds[-1], [bucket])
    return {
        int(i): (int(r or 0), int(b or 0))
        for i, r, b in (await session.execute(stmt)).tuples()
        if i is not None
    }


def _team_messages(
    session: AsyncSession, since: datetime, until: datetime, keys: list[Any]
) -> Select[Any]:
    m = Message
    first = aliased(Message)
    mine: SQLColumnExpression[str] = m.message_id
    theirs: SQLColumnExpression[str] = first.message_id
    pg = session.bind.dialect.name == "postgresql"
    if pg:  # SQLite's BINARY already compares bytes
        mine, theirs = mine.collate("C"), theirs.collate("C")
    # Each message's conversation by its primary key. PostgreSQL, given a plain join, hashes
    # the whole conversations table (a sequential scan of the history: ~0.4 s at 200k,
    # growing with it) to join a month's messages; a LATERAL subquery with LIMIT 1 is not
    # pulled up into a join, so it stays one index probe per message. SQLite already loops.
    conv = Conversation.__table__
    c: Any = conv
    if pg:
        c = (
            select(conv.c.started_at, conv.c.customer_messages)
            .where(conv.c.id == m.conversation_id)
            .limit(1)
            .lateral("c")
        )
    customer_first_in_same_instant = (
        select(first.id)
        .where(
            first.conversation_id == m.conversation_id,
            first.is_team.is_(False),
            first.deleted.is_(False),
            first.at == m.at,
            theirs < mine,
        )
        .exists()
    )
    started, customers = c.c.started_at, c.c.customer_messages
    is_reply = and_(
        started.is_not(None),
        or_(m.at > started, and_(m.at == started, customer_first_in_same_instant)),
    )
    is_broadcast = customers == 0
    return (
        select(
            *keys,
            func.sum(case((is_reply, 1), else_=0)),
            func.sum(case((is_broadcast, 1), else_=0)),
        )
        .join(c, true() if pg else c.c.id == m.conversation_id)
        .where(m.is_team.is_(True), m.deleted.is_(False), m.at >= since, m.at < until)
        .where(or_(is_reply, is_broadcast))
        .group_by(*keys)
    )
