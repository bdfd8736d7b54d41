"""What delivery does with results: retry timing (``Backoff``) and recording outcomes in
group commits (``GroupCommit``), shared by sends and in-place edits (``nudge_deliver``)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox_repo as outbox
from storage.db import Database, describe_error, is_unavailable

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
Released = Callable[[Iterable[int]], None]
RETRY_FIRST = 0.5  # seconds before recording a result again while the database is away
RETRY_CAP = 5.0


class GroupCommit:
    """Records send results as they arrive: whatever completed while one commit ran goes into
    the next. A result waits for at most one commit — never for the rest of its batch — which
    keeps the at-most-once window (storage.outbox_repo) short without a transaction per row.

    A result that cannot be written because the database is away is kept and written again
    (backoff up to ``RETRY_CAP``) until it lands: dropping it would send the nudge twice once
    its lease ran out. ``released`` hears which rows' results are committed, so their leases
    stop being renewed (``bot.services.leases``)."""

    def __init__(self, db: Database, released: Released | None = None) -> None:
        self.db = db
        self.released = released
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
                await self._write("sent nudges", partial(self._write_sent, sent))
                self._release(r.id for r in sent)
            if batch:
                await self._write("delivery results", partial(self._write_batch, batch))
                self._release(nid for nid, _write in batch)
            if self._closed and not self._queue and not self._sent:
                return

    async def _write_sent(self, sent: list[outbox.SentRecord]) -> None:
        async with self.db.write() as session:
            held = await outbox.mark_sent_many(session, sorted(sent, key=lambda r: r.id))
        if held < len(sent):
            log.warning("%d sent nudge(s) had lost their lease to another replica",
                        len(sent) - held)  # fmt: skip

    async def _write_batch(self, batch: list[tuple[int, Write]]) -> None:
        async with self.db.write() as session:
            for _nid, write in sorted(batch, key=lambda item: item[0]):
                await write(session)

    async def _write(self, what: str, attempt: Callable[[], Awaitable[None]]) -> None:
        delay = RETRY_FIRST
        while True:
            try:
                await attempt()
                return
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("could not record %s (%s); retry in %.1fs", what,
                            describe_error(exc), delay)  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(RETRY_CAP, delay * 2)

    def _release(self, ids: Iterable[int]) -> None:
        if self.released is not None:
            self.released(ids)

    async def __aenter__(self) -> GroupCommit:
        self._writer = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed = True
        self._wake.set()
        assert self._writer is not None
        await self._writer
