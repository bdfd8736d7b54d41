"""What a nudge shows: the conversation's card and its last few messages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, Message
from storage.nudges_repo import LADDER_CHUNK
from storage.rawsql import chunks


@dataclass(frozen=True)
class Card:
    id: int
    source: str
    platform: str
    channel: str
    thread: str
    customer_id: str | None
    customer_name: str | None
    waiting_since: datetime | None
    due_at: datetime | None
    claimed_by: str | None
    url: str


@dataclass(frozen=True)
class Line:
    author_id: str
    author_name: str
    person: str | None
    is_team: bool
    at: datetime
    text: str


async def cards(session: AsyncSession, ids: Sequence[int]) -> dict[int, Card]:
    c = Conversation
    out: dict[int, Card] = {}
    for part in chunks(sorted(set(ids)), LADDER_CHUNK):
        result = await session.execute(
            select(
                c.id, c.source, c.platform, c.channel, c.thread, c.customer_id, c.customer_name,
                c.waiting_since, c.due_at, c.claimed_by, c.url,
            ).where(c.id.in_(part))
        )  # fmt: skip
        out.update({row[0]: Card(*row) for row in result.tuples()})
    return out


async def transcripts(
    session: AsyncSession, ids: Sequence[int], last: int
) -> dict[int, list[Line]]:
    """The last ``last`` live messages of each conversation, oldest first (newest last)."""
    m = Message
    out: dict[int, list[Line]] = defaultdict(list)
    for part in chunks(sorted(set(ids)), LADDER_CHUNK):
        ranked = (
            select(
                m.conversation_id, m.author_id, m.author_name, m.person, m.is_team, m.at, m.text,
                func.row_number()
                .over(partition_by=m.conversation_id, order_by=(m.at.desc(), m.message_id.desc()))
                .label("rank"),
            )
            .where(m.conversation_id.in_(part), m.deleted.is_(False))
            .subquery()
        )  # fmt: skip
        result = await session.execute(
            select(
                ranked.c.conversation_id, ranked.c.author_id, ranked.c.author_name,
                ranked.c.person, ranked.c.is_team, ranked.c.at, ranked.c.text,
            )
            .where(ranked.c.rank <= last)
            .order_by(ranked.c.conversation_id, ranked.c.rank.desc())
        )  # fmt: skip
        for cid, *fields in result.tuples():
            out[cid].append(Line(*fields))
    return out
