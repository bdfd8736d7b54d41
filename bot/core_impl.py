"""The ``Core`` that adapters are handed: services bound to one runtime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select

from bot.app import Runtime
from bot.domain.events import InboundMessage
from bot.domain.ports import (
    ActionRequest,
    ActionResult,
    ChannelMessage,
    LatestQuery,
    OnCallItem,
    WaitingItem,
)
from bot.services.ingest import ingest
from bot.services.waiting import list_waiting
from storage.models import Conversation, Message


class CoreService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def ingest(self, messages: Sequence[InboundMessage]) -> None:
        await ingest(self.rt.db, messages, self.rt.rules)

    async def act(self, request: ActionRequest) -> ActionResult:
        raise NotImplementedError("actions arrive with the nudge engine")

    async def waiting(self, person: str | None = None) -> Sequence[WaitingItem]:
        rows = await list_waiting(self.rt.db, self.rt.routing, self.rt.now(), person=person)
        return [
            WaitingItem(
                r.conversation, r.source, r.platform, r.channel, r.customer, r.waiting_since,
                r.due_at, r.overdue, r.responsible_all, r.last_message, r.url,
            )
            for r in rows
        ]

    async def on_call(self) -> Sequence[OnCallItem]:
        return []

    async def conversation_ref(self, conversation_id: int) -> tuple[str, str, str, str] | None:
        c = Conversation
        async with self.rt.db.read() as session:
            row = (
                await session.execute(
                    select(c.source, c.platform, c.channel, c.thread).where(c.id == conversation_id)
                )
            ).first()
        return (row[0], row[1], row[2], row[3]) if row else None

    async def last_customer_message_id(self, conversation_id: int) -> str | None:
        m = Message
        async with self.rt.db.read() as session:
            found: str | None = await session.scalar(
                select(m.message_id)
                .where(m.conversation_id == conversation_id, m.is_team.is_(False),
                       m.deleted.is_(False))
                .order_by(m.at.desc(), m.message_id.desc())
                .limit(1)
            )
        return found

    async def thread_of(self, source: str, message_ids: Sequence[str]) -> Mapping[str, str]:
        if not message_ids:
            return {}
        m, c = Message, Conversation
        async with self.rt.db.read() as session:
            rows = await session.execute(
                select(m.message_id, c.thread)
                .join(c, c.id == m.conversation_id)
                .where(m.source == source, m.message_id.in_(list(message_ids)))
            )
            return {mid: thread for mid, thread in rows.tuples()}

    async def latest_messages(
        self, queries: Sequence[LatestQuery]
    ) -> Sequence[ChannelMessage | None]:
        # Each a range of ix_messages_source_at (source, at), filtered: its cost grows with
        # the source's messages inside [since, at], which the callers keep short.
        m, c = Message, Conversation
        found: list[ChannelMessage | None] = []
        if not queries:
            return found
        async with self.rt.db.read() as session:
            for q in queries:
                query = (
                    select(m.message_id, c.thread, m.at, m.is_team, m.author_id, c.waiting_since)
                    .join(c, c.id == m.conversation_id)
                    .where(
                        m.source == q.source,
                        m.at >= q.since,
                        m.at <= q.at,
                        m.deleted.is_(False),
                        c.channel == q.channel,
                    )
                    .order_by(m.at.desc(), m.id.desc())
                    .limit(1)
                )
                if q.author_id is not None:
                    query = query.where(m.author_id == q.author_id)
                if q.is_team is not None:
                    query = query.where(m.is_team.is_(q.is_team))
                if q.exclude is not None:
                    query = query.where(m.message_id != q.exclude)
                row = (await session.execute(query)).first()
                found.append(
                    None
                    if row is None
                    else ChannelMessage(row[0], row[1], row[2], row[3], row[4], row[5] is not None)
                )
        return found

    async def conversation_of(self, source: str, message_id: str) -> int | None:
        m = Message
        async with self.rt.db.read() as session:
            found: int | None = await session.scalar(
                select(m.conversation_id).where(m.source == source, m.message_id == message_id)
            )
        return found
