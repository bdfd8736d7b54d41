"""The one door inbound messages come in by: live events of every platform, catch-up, polled
sources, the generic webhook, imports, the demo and replies posted through the bot.

``Inbox(db, rules, planning)`` is built once per process by the composition root
(``bot.app.Runtime``), after the config's rules and the nudge planner it calls directly.
``ingest`` drops messages this process stored lately (``RecentIds``: a platform's or a
poller's redelivery costs no transaction; the store would skip them anyway), shares one
write transaction among concurrent callers (``InboxBatcher``: group commit), and each
transaction threads (``ThreadHint``), stores, recomputes and plans (``bot.inbox.store``).
``ingest_batch`` is for a caller that batches itself (an import): its messages alone, in one
transaction, with what they touched.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.events import InboundMessage, Kind
from bot.inbox.batcher import InboxBatcher
from bot.inbox.recent import RecentIds
from bot.inbox.store import (
    HistoryPlanning,
    IngestResult,
    NoPlanning,
    Planning,
    Rules,
    recompute,
    store,
)
from storage.db import Database

MAX_BATCH = 500  # messages per transaction (a larger call is written alone)
MAX_TURNS = 8  # loop turns an idle writer lets messages already on their way join
LINGER = 0.015  # seconds a busy writer waits for the senders it has just answered
RECENT = 20_000  # (source, message id) of messages stored lately, for dropping redeliveries


class Inbox:
    def __init__(self, db: Database, rules: Rules, planning: Planning | None = None) -> None:
        self.db = db
        self.rules = rules
        self.planning: Planning = planning if planning is not None else NoPlanning()
        self.batcher: InboxBatcher[Sequence[InboundMessage]] = InboxBatcher(
            self._commit, max_batch=MAX_BATCH, linger=LINGER, max_turns=MAX_TURNS, size=len,
            name="inbox",
        )  # fmt: skip
        self.recent: RecentIds[tuple[str, str]] = RecentIds(RECENT)

    async def ingest(self, messages: Sequence[InboundMessage]) -> None:
        """Returns once ``messages`` are stored and planned (in a transaction shared with
        whoever else was storing at the time); raises when they could not be. A plain
        message stored lately is dropped: stored messages never change by redelivery (edits
        and deletions come as their own kinds, and always go through)."""
        recent = self.recent
        fresh = [
            m for m in messages
            if m.kind is not Kind.MESSAGE or (m.source, m.message_id) not in recent
        ]  # fmt: skip
        if not fresh:
            return
        await self.batcher.submit(fresh)
        for m in fresh:  # only once stored: a failed write is tried again in full
            if m.kind is Kind.MESSAGE and not m.joins_only:  # (may have been dropped)
                recent.add((m.source, m.message_id))

    async def ingest_batch(
        self, messages: Sequence[InboundMessage], *, nudge_new: bool = True
    ) -> IngestResult:
        """``messages`` in one transaction of their own. ``nudge_new=False``: conversations
        this creates get no first nudge (an import's history, summarised instead)."""
        planning = self.planning if nudge_new else HistoryPlanning(self.planning)
        return await store(self.db, messages, self.rules, planning)

    async def recompute(self, session: AsyncSession, ids: Sequence[int]) -> None:
        """Recompute and re-plan conversations ``ids`` in the caller's write transaction
        (an action such as "not needed", or a re-plan at start)."""
        await recompute(session, ids, self.rules, self.planning)

    async def _commit(self, groups: list[Sequence[InboundMessage]]) -> None:
        await store(self.db, [m for group in groups for m in group], self.rules, self.planning)

    async def close(self) -> None:
        await self.batcher.close()
