"""Threading inside the write: the reads ``bot.domain.threading`` decides from, made in the
transaction that then stores the batch, with the batch's chats locked (PostgreSQL) so that
a replica storing the same chat at the same time waits and then reads what this one wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import threading
from bot.domain.events import InboundMessage
from storage.thread_queries import latest_messages, lock_channels, threads_of


async def thread_hinted(
    session: AsyncSession, messages: Sequence[InboundMessage], *, lock: bool
) -> list[InboundMessage]:
    """``messages`` with the thread of each hinted one decided; the others as they are."""
    hinted = [i for i, m in enumerate(messages) if m.hint is not None]
    items = [messages[i] for i in hinted]
    if lock:
        await lock_channels(session, [(m.source, m.channel) for m in items])
    known = await threads_of(session, threading.wanted(items))
    asked = {
        i: q
        for i, m in enumerate(items)
        if (m.source, m.message_id) not in known and (q := threading.query_for(m)) is not None
    }
    found = await latest_messages(session, list(asked.values())) if asked else []
    decided = threading.resolve(items, known, dict(zip(asked, found, strict=True)))
    out = list(messages)
    for i, thread in zip(hinted, decided, strict=True):
        out[i] = replace(out[i], thread=thread)
    return out
