"""Point lookups the adapters ask the core for (``bot.wiring.core``): where a conversation is
on its platform, which conversation or thread a platform message was stored in. Each is one
read by primary key or by the ``(source, message_id)`` unique index."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.ports import ReplyTarget
from storage.models import Conversation, Message


async def reply_target(session: AsyncSession, conversation_id: int) -> ReplyTarget | None:
    c = Conversation
    row = (
        await session.execute(
            select(c.source, c.platform, c.channel, c.thread).where(c.id == conversation_id)
        )
    ).first()
    return ReplyTarget(row.source, row.platform, row.channel, row.thread) if row else None


async def threads_of_messages(
    session: AsyncSession, source: str, message_ids: Sequence[str]
) -> Mapping[str, str]:
    """message id -> its conversation's thread, for the ids stored in ``source``."""
    if not message_ids:
        return {}
    m, c = Message, Conversation
    rows = await session.execute(
        select(m.message_id, c.thread)
        .join(c, c.id == m.conversation_id)
        .where(m.source == source, m.message_id.in_(list(message_ids)))
    )
    return {mid: thread for mid, thread in rows.tuples()}


async def conversation_of_message(
    session: AsyncSession, source: str, message_id: str
) -> int | None:
    m = Message
    found: int | None = await session.scalar(
        select(m.conversation_id).where(m.source == source, m.message_id == message_id)
    )
    return found
