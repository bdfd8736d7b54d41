"""Staying inside Slack's limits: a per-channel pacer and a Retry-After aware retry handler.

``chat.postMessage`` allows about one message a second per channel. The pacer spaces our
posts to a channel by ``interval`` measured from the end of the previous call, so even with
network jitter Slack never sees two closer than that. A 429 that still happens (another
replica, a burst elsewhere) is retried by slack_sdk after ``Retry-After`` if that is short,
else surfaces as ``DeliveryError(retry_after=…)`` for the outbox to retry: a nudge is never
dropped, and no call waits longer than the outbox lease allows.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

T = TypeVar("T")


class ChannelBusy(Exception):
    """Too many posts are queued for one channel; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"channel busy, retry after {retry_after:.1f}s")
        self.retry_after = retry_after


@dataclass
class _Slot:
    lock: asyncio.Lock
    next_at: float = 0.0
    queued: int = 0


class ChannelPacer:
    def __init__(
        self,
        interval: float = 1.0,
        *,
        max_queue: int = 20,
        max_wait: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.max_queue = max_queue
        self.max_wait = max_wait  # a send never waits longer for its turn: the outbox retries
        self.clock = clock
        self._slots: dict[str, _Slot] = {}

    def _slot(self, key: str) -> _Slot:
        slot = self._slots.get(key)
        if slot is None:
            if len(self._slots) > 10_000:
                self._forget_idle()
            slot = self._slots[key] = _Slot(asyncio.Lock())
        return slot

    def _forget_idle(self) -> None:
        now = self.clock()
        for key, slot in list(self._slots.items()):
            if slot.queued == 0 and slot.next_at < now:
                del self._slots[key]

    async def run(self, key: str, call: Callable[[], Awaitable[T]]) -> T:
        slot = self._slot(key)
        backlog = max(0.0, slot.next_at - self.clock()) + slot.queued * self.interval
        if slot.queued >= self.max_queue or backlog > self.max_wait:
            raise ChannelBusy(max(backlog, self.interval))
        slot.queued += 1
        try:
            async with slot.lock:
                wait = slot.next_at - self.clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    return await call()
                finally:
                    slot.next_at = max(slot.next_at, self.clock() + self.interval)
        finally:
            slot.queued -= 1

    def hold(self, key: str, seconds: float) -> None:
        """Slack said Retry-After for this channel: nothing else goes there before then."""
        slot = self._slot(key)
        slot.next_at = max(slot.next_at, self.clock() + seconds)


def retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (any case; a list or a string value)."""
    if not headers:
        return None
    for name, value in headers.items():
        if str(name).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return max(0.0, float(str(raw)))
            except ValueError:
                return None
    return None


class RetryAfterHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, but it waits exactly ``Retry-After`` (plus a little jitter)
    and gives up at once when that is longer than ``max_wait``, so the caller can reschedule
    instead of holding a connection and an outbox lease."""

    def __init__(self, max_retry_count: int = 2, max_wait: float = 10.0) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after(response.headers)
        return (1.0 if wait is None else wait) <= self.max_wait

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = retry_after(response.headers if response is not None else None)
        state.next_attempt_requested = True
        await asyncio.sleep((1.0 if wait is None else wait) * (1 + 0.1 * random.random()))
        state.increment_current_attempt()
