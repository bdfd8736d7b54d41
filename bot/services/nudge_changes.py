"""What the inbox calls, in the transaction that stored a batch: the nudge planner's side of
ingest (``bot.inbox.store.Planning``). Built by the composition root before the inbox, which
calls it directly, and handed to the engine, whose scheduler it wakes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.nudge_plan import Planner

Now = Callable[[], datetime]
Wake = Callable[[datetime], None]


class NudgeChanges:
    def __init__(self, planner: Planner, now: Now) -> None:
        self.planner = planner
        self.now = now
        # The scheduler's poke, once it runs (``Runtime.start``); None: nothing to wake.
        self.wake: Wake | None = None

    def first_nudge(self, source: str, waiting_since: datetime, due: datetime) -> datetime | None:
        return self.planner.first_nudge(source, waiting_since, due)

    async def changed(
        self, session: AsyncSession, ids: Sequence[int], planned: Sequence[datetime] = ()
    ) -> None:
        """Cancel/update nudges of recomputed conversations and move their next_nudge_at;
        wake the scheduler for the earliest new due time once the transaction commits."""
        now = self.now()
        at = (await self.planner.refresh(session, ids, now)).wake_at(now) if ids else None
        at = min([*planned, *([at] if at is not None else [])], default=None)
        wake = self.wake
        if wake is not None and at is not None:
            # Only after commit: a tick woken earlier would not see the change yet.
            event.listen(session.sync_session, "after_commit", lambda _s: wake(at), once=True)

    def woken(self, at: datetime | None) -> None:
        if self.wake is not None and at is not None:
            self.wake(at)
