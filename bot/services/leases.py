"""Keeping claims alive while their work is in flight (``storage.outbox_repo``: short leases).

A ``Leases`` belongs to one ``Deliverer.deliver`` or ``update`` call, or one
``SummarySender.run`` (``summaries=True``: summary rows, storage.summary_claims_repo): rows are held
from the claim until their result is committed, and a background task renews whatever is still held
every ``RENEW_EVERY``. When the call returns, the task stops and nothing stays held, so a
lease outlives its work by at most one ``LEASE`` — which is also all a killed process costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime

from storage import outbox_repo as outbox
from storage import outbox_updates_repo as outbox_updates
from storage import summary_claims_repo as summary_claims
from storage.db import Database, describe_error

log = logging.getLogger("nudgebot.delivery")
Now = Callable[[], datetime]


class Leases:
    def __init__(
        self,
        db: Database,
        now: Now,
        *,
        updates: bool = False,
        summaries: bool = False,
        every: float = outbox.RENEW_EVERY.total_seconds(),
    ) -> None:
        self.db = db
        self.now = now
        self.updates = updates  # in-place edits (update attempts) rather than deliveries
        self.summaries = summaries  # summary messages (nudge_summaries rows)
        self.every = every
        self.held: dict[int, int] = {}  # row id -> attempt
        self.renewals = 0

    def hold(self, row_id: int, attempt: int) -> None:
        self.held[row_id] = attempt

    def release(self, row_ids: Iterable[int]) -> None:
        for row_id in row_ids:
            self.held.pop(row_id, None)

    async def renew(self) -> None:
        held = list(self.held.items())
        if not held:
            return
        async with self.db.write() as session:
            if self.summaries:
                await summary_claims.renew(session, held, self.now())
            elif self.updates:
                await outbox_updates.renew_updates(session, held, self.now())
            else:
                await outbox.renew(session, held, self.now())
        self.renewals += 1

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.renew()
            except Exception as exc:  # the database away: nobody else can take them either
                log.warning("could not renew %d claim(s): %s", len(self.held), describe_error(exc))

    @contextlib.asynccontextmanager
    async def renewing(self) -> AsyncIterator[Leases]:
        task = asyncio.create_task(self._loop(), name="nudgebot-lease-renewal")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.held.clear()
