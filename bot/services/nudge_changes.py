"""What the inbox calls, in the transaction that stored a batch: the nudge planner's side of
ingest (``bot.inbox.store.Planning``). Built by the composition root before the inbox, which
calls it directly, and handed to the engine; both wake the scheduler through one ``Wakeup``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.nudge_plan import Planner

Now = Callable[[], datetime]
Wake = Callable[[datetime], None]


class Wakeup:
    """Where "something is due at ``at``" goes: built first by the composition root and
    handed to the planner's side (here) and to the scheduler. The scheduler binds its poke
    while it runs; unbound (read-only commands, a stopped scheduler), it goes nowhere."""

    def __init__(self) -> None:
        self._target: Wake | None = None

    @property
    def bound(self) -> bool:
        return self._target is not None

    def bind(self, target: Wake) -> None:
        self._target = target

    def release(self, target: Wake) -> None:
        """Unbind ``target`` (a newer scheduler's poke stays)."""
        if self._target == target:
            self._target = None

    def __call__(self, at: datetime) -> None:
        if self._target is not None:
            self._target(at)


class NudgeChanges:
    def __init__(self, planner: Planner, now: Now, wakeup: Wakeup) -> None:
        self.planner = planner
        self.now = now
        self.wakeup = wakeup

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
        if at is not None and self.wakeup.bound:  # no listener where no scheduler runs
            wakeup = self.wakeup
            # Only after commit: a tick woken earlier would not see the change yet.
            event.listen(session.sync_session, "after_commit", lambda _s: wakeup(at), once=True)

    def woken(self, at: datetime | None) -> None:
        if at is not None:
            self.wakeup(at)
