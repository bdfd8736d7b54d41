"""Group commit for inbound events: concurrent senders share one database transaction.

Each sender awaits its own item being stored before it acknowledges (an acknowledged event
is never lost), but a transaction per event caps a store at a few hundred events a second.
Items that arrive while a batch is being written join the next one; a lone item is stored
at once. Under load, after a batch the writer lingers a few milliseconds for the senders it
has just answered, so batches stay as large as the number of concurrent senders instead of
splitting into a large and a small one that alternate. Batches run one at a time (SQLite has
one writer anyway), so a chat's messages are stored in order and see each other. A failed
batch is retried item by item, so one bad event fails alone.

The inbox (``bot.inbox.inbox``) runs one for every live source of the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
Commit = Callable[[list[T]], Awaitable[None]]


def _one(_item: object) -> int:
    return 1


class InboxBatcher(Generic[T]):
    """``submit(item)`` returns once ``commit`` has stored a batch containing it.

    ``size`` weighs an item against ``max_batch`` (default: one each); ``max_turns`` loop
    turns let items already on their way join an idle writer's batch. A cancelled sender
    (client gone) gets ``CancelledError``, and its item is written all the same.
    """

    def __init__(
        self, commit: Commit[T], *, max_batch: int, linger: float, max_turns: int = 0,
        size: Callable[[T], int] = _one, name: str = "inbox-batcher",
        log: logging.Logger | None = None,
    ) -> None:  # fmt: skip
        self._commit = commit
        self.max_batch = max_batch
        self.linger = linger
        self.max_turns = max_turns
        self._size = size
        self._name = name
        self._log = log or logging.getLogger("nudgebot.inbox")
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        # A lingering writer's target: wake it once this many wait. Outside a linger the
        # event may be set at will: ``_linger`` clears it before it waits.
        self._want = 0
        self._enough = asyncio.Event()
        self.batches = 0  # for the benchmark and tests: transactions issued

    async def submit(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._want:
            self._enough.set()
        # (done(), not a done-callback: a writer that just ran dry must not be counted.)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name=self._name)
        # Shielded: a cancelled sender (client gone) leaves the future to the writer, which
        # writes the item anyway (others share the batch) and skips settling it if done.
        await asyncio.shield(future)

    async def _drain(self) -> None:
        # Senders seen in the last round, those just answered plus those waiting; 0 after a
        # lone write (nobody to wait for).
        busy = 0
        while self._pending:
            if busy and self.linger > 0:
                await self._linger(min(busy, self.max_batch))
            else:
                await self._gather()
            batch: list[tuple[T, asyncio.Future[None]]] = []
            size = 0
            while self._pending and (
                not batch or size + self._size(self._pending[0][0]) <= self.max_batch
            ):
                entry = self._pending.pop(0)
                batch.append(entry)
                size += self._size(entry[0])
            await self._write(batch)
            busy = len(batch) + len(self._pending) if len(batch) > 1 else 0

    async def _linger(self, want: int) -> None:
        """Under load, the senders just answered come back at once: wait (``linger`` at
        most) for as many as were busy."""
        self._want = want
        self._enough.clear()
        try:
            async with asyncio.timeout(self.linger):
                await self._enough.wait()
        except TimeoutError:
            pass

    async def _gather(self) -> None:
        """Let items that are already on their way join before writing. On SQLite the write
        holds the event loop, so requests not yet parsed when it starts would miss it and
        wait for the next; a few loop turns until no new item arrives cost an idle server
        nothing it would notice."""
        for _ in range(self.max_turns):
            before = len(self._pending)
            await asyncio.sleep(0)
            if len(self._pending) == before or len(self._pending) >= self.max_batch:
                return

    async def _write(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        self.batches += 1
        try:
            await self._commit([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            self._log.warning(
                "storing %d events together failed (%r); retrying one by one", len(batch), exc
            )
            for entry in batch:
                await self._write([entry])
            return
        for _, future in batch:
            _settle(future, None)

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the sender gave up waiting (client went away)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
