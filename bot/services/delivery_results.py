"""What delivery does with results: retry timing (``Backoff``) and recording outcomes in
group commits (``GroupCommit``), shared by sends and in-place edits (``nudge_deliver``)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox
from storage.db import Database

log = logging.getLogger("nudgebot.delivery")


@dataclass(frozen=True)
class Backoff:
    base: float = 5.0  # seconds before the first retry
    cap: float = 900.0
    max_attempts: int = 10

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Full-jitter exponential backoff; never sooner than the platform asked."""
        backoff = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        jittered = backoff * (0.5 + rng.random() / 2)
        if retry_after is not None and retry_after > 0:
            return retry_after * (1 + rng.random() / 10)  # spread the herd, never sooner
        return jittered


Write = Callable[[AsyncSession], Awaitable[object]]


class GroupCommit:
    """Records send results as they arrive: whatever completed while one commit ran goes into
    the next. A result waits for at most one commit — never for the rest of its batch — which
    keeps the at-most-once window (storage.outbox) short without a transaction per row."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sent: list[outbox.SentRecord] = []
        self._queue: list[tuple[int, Write]] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._writer: asyncio.Task[None] | None = None

    def put(self, nudge_id: int, write: Write) -> None:
        self._queue.append((nudge_id, write))
        self._wake.set()

    def sent(self, record: outbox.SentRecord) -> None:
        self._sent.append(record)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            sent, self._sent = self._sent, []
            batch, self._queue = self._queue, []
            # Rows are locked in ascending id, as every other writer of the outbox does, so
            # that no two transactions ever wait on each other's rows (no deadlock to abort
            # a commit of "sent").
            if sent:
                async with self.db.write() as session:
                    held = await outbox.mark_sent_many(session, sorted(sent, key=lambda r: r.id))
                if held < len(sent):
                    log.warning("%d sent nudge(s) had lost their lease to another replica",
                                len(sent) - held)  # fmt: skip
            if batch:
                async with self.db.write() as session:
                    for _nid, write in sorted(batch, key=lambda item: item[0]):
                        await write(session)
            if self._closed and not self._queue and not self._sent:
                return

    async def __aenter__(self) -> GroupCommit:
        self._writer = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed = True
        self._wake.set()
        assert self._writer is not None
        await self._writer
