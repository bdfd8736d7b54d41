"""The ``Core`` that adapters are handed (``bot.domain.ports.Core``): the services of one
``Runtime`` behind the narrow interface the import-linter contracts let adapters see."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

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
from storage import lookup_queries as lookups


class CoreService:
    def __init__(self, runtime: Runtime, *, catch_up: Callable[[], None] | None = None) -> None:
        self.runtime = runtime
        # The process's ``CatchUpWake``, which its catch-up service waits on; None: this
        # process runs no catch-up.
        self.catch_up = catch_up

    async def ingest(self, messages: Sequence[InboundMessage]) -> None:
        await self.runtime.inbox.ingest(messages)

    async def act(self, request: ActionRequest) -> ActionResult:
        """Claim, snooze, not needed, reply, unclaim (bot.services.nudge_actions)."""
        return await self.runtime.engine.act(request)

    async def waiting(self, person: str | None = None) -> Sequence[WaitingItem]:
        rows = await list_waiting(
            self.runtime.db, self.runtime.routing, self.runtime.now(), person=person
        )
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
        service = self.runtime.oncall
        await service.prepare()
        now = self.runtime.now()
        items = []
        for rid in service.rotation_ids:
            s = service.status(rid, now)
            nxt = s.next.person if s.next else None
            items.append(OnCallItem(rid, s.person, s.since, s.until, nxt))
        return items

    async def conversation_ref(self, conversation_id: int) -> ReplyTarget | None:
        async with self.runtime.db.read() as session:
            return await lookups.reply_target(session, conversation_id)

    async def thread_of(self, source: str, message_ids: Sequence[str]) -> Mapping[str, str]:
        if not message_ids:
            return {}
        async with self.runtime.db.quick() as session:
            return await lookups.threads_of_messages(session, source, message_ids)

    async def conversation_of(self, source: str, message_id: str) -> int | None:
        async with self.runtime.db.quick() as session:
            return await lookups.conversation_of_message(session, source, message_id)

    async def keep_dead_letter(self, letter: DeadLetter) -> None:
        await keep_dead_letter(self.runtime.db, letter)

    def catch_up_now(self) -> None:
        if self.catch_up is not None:
            self.catch_up()
