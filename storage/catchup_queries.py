"""What catch-up asks of the store: where a channel's stored history ends, and per thread what
is stored (newest message, live count, the messages of its open wait)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.catchup import StoredMessage, ThreadState
from storage.models import Conversation, Message
from storage.rawsql import chunks


async def newest_in_channel(session: AsyncSession, source: str, channel: str) -> datetime | None:
    c = Conversation
    found: datetime | None = await session.scalar(
        select(func.max(c.last_message_at)).where(c.source == source, c.channel == channel)
    )
    return found


async def _states(
    session: AsyncSession, rows: Sequence[tuple[int, str, datetime | None, datetime | None]]
) -> list[ThreadState]:
    """``rows``: (conversation id, thread, started_at, waiting_since)."""
    m = Message
    live: dict[int, list[tuple[str, datetime, str, bool]]] = defaultdict(list)
    for part in chunks([r[0] for r in rows]):
        result = await session.execute(
            select(m.conversation_id, m.message_id, m.at, m.author_id, m.is_team).where(
                m.conversation_id.in_(part), m.deleted.is_(False)
            )
        )
        for cid, mid, at, author, team in result.tuples():
            live[cid].append((mid, at, author, team))
    states = []
    for cid, thread, started, since in rows:
        messages = live.get(cid, [])
        waiting = tuple(
            StoredMessage(mid, at, author, team)
            for mid, at, author, team in sorted(messages, key=lambda x: (x[1], x[0]))
            if since is not None and not team and at >= since
        )
        newest = max((x[1] for x in messages), default=None)
        states.append(ThreadState(thread, started, newest, len(messages), waiting))
    return states


async def open_threads(session: AsyncSession, source: str, channel: str) -> list[ThreadState]:
    """Threads of the channel that wait for a reply."""
    c = Conversation
    result = await session.execute(
        select(c.id, c.thread, c.started_at, c.waiting_since).where(
            c.source == source, c.channel == channel, c.waiting_since.is_not(None)
        )
    )
    return await _states(session, list(result.tuples()))


async def thread_states(
    session: AsyncSession, source: str, thread_keys: Sequence[str]
) -> list[ThreadState]:
    c = Conversation
    rows: list[tuple[int, str, datetime | None, datetime | None]] = []
    for part in chunks(list(thread_keys)):
        result = await session.execute(
            select(c.id, c.thread, c.started_at, c.waiting_since).where(
                c.source == source, c.thread_key.in_(part)
            )
        )
        rows.extend(result.tuples())
    return await _states(session, rows)


async def oldest_recent_start(
    session: AsyncSession, source: str, channel: str, since: datetime
) -> datetime | None:
    """Start of the oldest of the channel's threads with a message since ``since``."""
    c = Conversation
    found: datetime | None = await session.scalar(
        select(func.min(c.started_at)).where(
            c.source == source, c.channel == channel, c.last_message_at >= since
        )
    )
    return found
