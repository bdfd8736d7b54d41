"""Telegram's flood limits, client side: ≈30 messages/s overall, ≈20/min per group and
≈1/s per chat (PLATFORM-FACTS.md).

PTB's ``AIORateLimiter`` covers the first two and retries on ``RetryAfter`` (pausing every
request for ``retry_after`` seconds); this adds the per-chat limit it leaves out. Nothing is
dropped: requests wait their turn, and a 429 that survives the retries reaches the caller
(the messenger turns it into ``DeliveryError(retry_after=…)`` for the engine to reschedule).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter
from telegram.warnings import PTBDeprecationWarning

OVERALL_PER_SECOND = 30
GROUP_PER_MINUTE = 20
CHAT_PER_SECOND = 1
MAX_RETRIES = 3
_MAX_IDLE_LIMITERS = 512

Result = bool | dict[str, Any] | list[dict[str, Any]]


def retry_after_seconds(exc: RetryAfter) -> float:
    """``exc.retry_after`` in seconds, whichever type PTB is configured to hand out (reading
    it as an int is deprecated in PTB 22; the replacement is opt-in via PTB_TIMEDELTA)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ChatRateLimiter(AIORateLimiter):
    def __init__(
        self,
        overall_per_second: float = OVERALL_PER_SECOND,
        group_per_minute: float = GROUP_PER_MINUTE,
        chat_per_second: float = CHAT_PER_SECOND,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        super().__init__(
            overall_max_rate=overall_per_second,
            overall_time_period=1,
            group_max_rate=group_per_minute,
            group_time_period=60,
            max_retries=max_retries,
        )
        self._chat_rate = chat_per_second
        self._chats: dict[str, AsyncLimiter] = {}

    def _chat_limiter(self, chat_id: object) -> AsyncLimiter:
        key = str(chat_id)
        if len(self._chats) > _MAX_IDLE_LIMITERS:
            # Forget chats whose bucket is full again: they have been quiet for a second.
            for other, limiter in list(self._chats.items()):
                if other != key and limiter.has_capacity(limiter.max_rate):
                    del self._chats[other]
        if key not in self._chats:
            self._chats[key] = AsyncLimiter(self._chat_rate, 1)
        return self._chats[key]

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        chat_id = data.get("chat_id")
        limiter = self._chat_limiter(chat_id) if chat_id is not None and self._chat_rate else None
        async with limiter if limiter is not None else contextlib.nullcontext():
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
