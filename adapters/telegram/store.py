"""Group commit for Telegram's messages: the core's ``InboxBatcher`` over ``Incoming``.

A batch is threaded and ingested together: two concurrent reads for the thread lookups, one
write transaction — the database's per-transaction cost (the bulk of the CPU an update
costs) is paid once per batch, not per update. Batches run one at a time, so a chat's
messages are threaded in order and see each other.
"""

from __future__ import annotations

import logging

from adapters.telegram.threads import resolve_threads
from adapters.telegram.updates import Incoming
from bot.domain.ports import Core
from bot.inbox import InboxBatcher

log = logging.getLogger("nudgebot.telegram")
MAX_BATCH = 128
LINGER = 0.003  # seconds a busy worker waits for more before storing a batch


class Batcher(InboxBatcher[Incoming]):
    def __init__(self, core: Core, max_batch: int = MAX_BATCH, linger: float = LINGER) -> None:
        self.core = core
        super().__init__(
            self._commit_threaded, max_batch=max_batch, linger=linger, shield=False,
            name="telegram-store", log=log,
        )  # fmt: skip

    async def store(self, incoming: Incoming) -> None:
        await self.submit(incoming)

    async def _commit_threaded(self, items: list[Incoming]) -> None:
        threads = await resolve_threads(items, self.core)
        await self.core.ingest([item.message(t) for item, t in zip(items, threads, strict=True)])
