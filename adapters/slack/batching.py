"""Group commit for ingest: concurrent events share one database transaction.

Each event handler awaits its own messages being stored before it acknowledges (so an
acknowledged event is never lost), but a transaction per event caps a SQLite store at a few
hundred events a second. Handlers that arrive while a write is in flight join the next one.
A failed batch is retried message group by message group, so one bad event fails alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.domain.events import InboundMessage

log = logging.getLogger("nudgebot.slack")
Ingest = Callable[[Sequence[InboundMessage]], Awaitable[None]]
_Pending = tuple[Sequence[InboundMessage], "asyncio.Future[None]"]


class IngestBatcher:
    def __init__(
        self, ingest: Ingest, *, max_batch: int = 500, max_turns: int = 8, linger: float = 0.015
    ) -> None:
        self._ingest = ingest
        self.max_batch = max_batch
        self.max_turns = max_turns
        self.linger = linger
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self._want = 0  # a lingering writer's target: wake it once this many wait
        self._enough = asyncio.Event()
        self.batches = 0  # for the benchmark and tests: transactions issued

    async def submit(self, messages: Sequence[InboundMessage]) -> None:
        if not messages:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((messages, future))
        if self._want and len(self._pending) >= self._want:
            self._enough.set()
        # One writer: SQLite has one anyway, and the next batch grows while this one commits.
        # (done(), not a done-callback: a writer that just ran dry must not be counted.)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="slack-ingest-batcher")
        # The write goes on if this request is cancelled (client gone): others share it.
        await asyncio.shield(future)

    async def _drain(self) -> None:
        busy = 0  # senders seen in the last round: those just answered plus those waiting
        while self._pending:
            if busy > len(self._pending) and self.linger > 0:
                await self._linger(min(busy, self.max_batch))
            else:
                await self._gather()
            batch: list[_Pending] = []
            size = 0
            while self._pending and (
                not batch or size + len(self._pending[0][0]) <= self.max_batch
            ):
                item = self._pending.pop(0)
                batch.append(item)
                size += len(item[0])
            await self._write(batch)
            busy = len(batch) + len(self._pending) if len(batch) > 1 else 0

    async def _linger(self, want: int) -> None:
        """Under load, the senders just answered come back at once: wait (a few ms at most)
        for as many as were busy, so batches stay as large as the number of concurrent
        senders instead of splitting into a large and a small one that alternate."""
        self._want = want
        self._enough.clear()
        try:
            async with asyncio.timeout(self.linger):
                await self._enough.wait()
        except TimeoutError:
            pass
        finally:
            self._want = 0

    async def _gather(self) -> None:
        """Let requests that are already on their way join before writing. On SQLite the
        write holds the event loop, so requests not yet parsed when it starts would miss
        it and wait for the next; a few loop turns (each lets every ready connection run)
        until no new event arrives costs an idle server nothing it would notice."""
        for _ in range(self.max_turns):
            before = len(self._pending)
            await asyncio.sleep(0)
            if len(self._pending) == before or len(self._pending) >= self.max_batch:
                return

    async def _write(self, batch: list[_Pending]) -> None:
        self.batches += 1
        try:
            await self._ingest([m for messages, _ in batch for m in messages])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning(
                "batched ingest of %d events failed (%r); retrying one by one", len(batch), exc
            )
            for item in batch:
                await self._write([item])
            return
        for _, future in batch:
            _settle(future, None)

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
