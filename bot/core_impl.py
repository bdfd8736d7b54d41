"""The ``Core`` that adapters are handed: services bound to one runtime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import (
    select,
)

from bot.app import Runtime
from bot.domain.events import InboundMessage
from bot.domain.ports import (
    ActionRequest,
    ActionResult,
    DeadLetter,
    OnCallItem,
    ReplyTarget,
    WaitingItem,
)
from bot.services.dead_letters import keep_dead_letter
from bot.services.waiting import list_waiting
from storage.models import Conversation, Message


class CoreService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def ingest(self, messages: Sequence[InboundMessage]) -> None:
        await self.rt.inbox.ingest(messages)

    async def act(self, request: ActionRequest) -> ActionResult:
        """Claim, snooze, not needed, reply, unclaim (bot.services.nudge_actions)."""
        return await self.rt.engine.act(request)

    async def waiting(self, person: str | None = None) -> Sequence[WaitingItem]:
        rows = await list_waiting(self.rt.db, self.rt.routing, self.rt.now(), person=person)
        return [
            WaitingItem(
                r.conversation,
                r.source,
                r.platform,
                r.channel,
                r.customer,
                r.waiting_since,
                r.due_at,
                r.overdue,
                r.responsible_all,
                r.last_message,
                r.url,
            )
            for r in rows
        ]

    async def on_call(self) -> Sequence[OnCallItem]:
        service = self.rt.oncall
        await service.prepare()
        now = self.rt.now()
        items = []
        for rid in service.rotation_ids:
            s = service.status(rid, now)
            nxt = s.next.person if s.next else None
            items.append(OnCallItem(rid, s.person, s.since, s.until, nxt))
        return items

    async def conversation_ref(self, conversation_id: int) -> ReplyTarget | None:
        c = Conversation
        async with self.rt.db.read() as session:
            row = (
                await session.execute(
                    select(c.source, c.platform, c.channel, c.thread).where(c.id == conversation_id)
                )
            ).first()
        return ReplyTarget(row.source, row.platform, row.channel, row.thread) if row else None

    async def thread_of(self, source: str, message_ids: Sequence[str]) -> Mapping[str, str]:
        if not message_ids:
            return {}
        m, c = Message, Conversation
        async with self.rt.db.quick() as session:
            rows = await session.execute(
                select(m.message_id, c.thread)
                .join(c, c.id == m.conversation_id)
                .where(m.source == source, m.message_id.in_(list(message_ids)))
            )
            return {mid: thread for mid, thread in rows.tuples()}

    async def conversation_of(self, source: str, message_id: str) -> int | None:
        m = Message
        async with self.rt.db.quick() as session:
            found: int | None = await session.scalar(
                select(m.conversation_id).where(m.source == source, m.message_id == message_id)
            )
        return found

    async def keep_dead_letter(self, letter: DeadLetter) -> None:
        await keep_dead_letter(self.rt.db, letter)
