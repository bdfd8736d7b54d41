"""Group commit for Slack's events: the core's ``InboxBatcher`` over message groups.

An item is one event's messages, weighed by its message count against ``max_batch``; a
cancelled request's messages are still written (others share the transaction). The batched
write is ``ingest``, read at call time (the benchmark wraps it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.domain.events import InboundMessage
from bot.inbox import InboxBatcher

log = logging.getLogger("nudgebot.slack")
Ingest = Callable[[Sequence[InboundMessage]], Awaitable[None]]


class IngestBatcher(InboxBatcher[Sequence[InboundMessage]]):
    def __init__(
        self, ingest: Ingest, *, max_batch: int = 500, max_turns: int = 8, linger: float = 0.015
    ) -> None:
        self._ingest = ingest
        super().__init__(
            self._write_groups, max_batch=max_batch, linger=linger, max_turns=max_turns,
            size=len, shield=True, name="slack-ingest-batcher", log=log,
        )  # fmt: skip

    async def submit(self, item: Sequence[InboundMessage]) -> None:
        if item:
            await super().submit(item)

    async def _write_groups(self, groups: list[Sequence[InboundMessage]]) -> None:
        await self._ingest([m for messages in groups for m in messages])
