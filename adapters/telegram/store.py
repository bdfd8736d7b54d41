"""Group commit for incoming messages.

Messages that arrive while a batch is being stored are threaded and ingested together in the
next one: two concurrent reads for the thread lookups, one write transaction — the database's
per-transaction cost (the bulk of the CPU an update costs) is paid once per batch, not per
update. A lone message is stored at once. Under load, after a batch the worker lingers a few
milliseconds for the senders it has just answered, so batches stay as large as the number of
concurrent senders instead of splitting into two alternating halves.

Batches run one at a time, so a chat's messages are threaded in order and see each other. A
failed batch is retried one message at a time, so one bad message fails alone.
"""

from __future__ import annotations

import asyncio
import logging

from adapters.telegram.threads import resolve_threads
from adapters.telegram.updates import Incoming
from bot.domain.ports import Core

log = logging.getLogger("nudgebot.telegram")
MAX_BATCH = 128
LINGER = 0.003  # seconds a busy worker waits for more before storing a batch


class Batcher:
    def __init__(self, core: Core, max_batch: int = MAX_BATCH, linger: float = LINGER) -> None:
        self.core = core
        self.max_batch = max_batch
        self.linger = linger
        self._pending: list[tuple[Incoming, asyncio.Future[None]]] = []
        self._worker: asyncio.Task[None] | None = None
        self._want = 0  # the lingering worker's target: wake it when this many wait
        self._enough = asyncio.Event()

    async def store(self, incoming: Incoming) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((incoming, done))
        if self._want and len(self._pending) >= self._want:
            self._enough.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="telegram-store")
        await done

    async def _drain(self) -> None:
        busy = 0  # senders seen in the last round: those just answered plus those waiting
        while self._pending:
            if busy > len(self._pending) and self.linger > 0:
                await self._gather(min(busy, self.max_batch))
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            await self._store(batch)
            busy = len(batch) + len(self._pending) if len(batch) > 1 else 0

    async def _gather(self, want: int) -> None:
        self._want = want
        self._enough.clear()
        try:
            async with asyncio.timeout(self.linger):
                await self._enough.wait()
        except TimeoutError:
            pass
        finally:
            self._want = 0

    async def _store(self, batch: list[tuple[Incoming, asyncio.Future[None]]]) -> None:
        try:
            await self._commit([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning("storing %d updates together failed (%r); one at a time now",
                        len(batch), exc)  # fmt: skip
            for item, done in batch:
                try:
                    await self._commit([item])
                except Exception as single:
                    _settle(done, single)
                else:
                    _settle(done, None)
        else:
            for _, done in batch:
                _settle(done, None)

    async def _commit(self, items: list[Incoming]) -> None:
        threads = await resolve_threads(items, self.core)
        await self.core.ingest([item.message(t) for item, t in zip(items, threads, strict=True)])

    async def close(self) -> None:
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # the request gave up waiting (client went away)
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
