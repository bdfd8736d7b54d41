"""Polling mode (development, or no public URL): ``getUpdates`` in a loop, each update through
the same ``receive_json`` as the webhook.

Only one replica may poll — Telegram answers a second ``getUpdates`` with 409 Conflict — so
the loop first takes the wiring's lock (a PostgreSQL advisory lock) and waits while another
replica holds it. The offset moves past an update only once it is handled (stored, or kept as
a dead letter): a storage failure leaves it to be fetched again.

The offset is also saved in the database after every handled update, and a restart resumes
from it. Telegram itself would hand back every update not yet confirmed by a later
``getUpdates`` — including those handled just before a crash, whose commands and button
presses would then run twice. A saved offset older than Telegram's 24-hour retention is not
used: there is nothing left to resume, and after a week without updates Telegram picks the
next update id at random, possibly below it.

The updates are read from the raw JSON, one by one, rather than through PTB's
``get_updates``: that one raises for the whole batch when PTB cannot read a single update,
and the loop would fetch the same batch forever.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from telegram.error import Conflict

from adapters.telegram.service import ALLOWED_UPDATES, NotStarted, PollLock, TelegramService

log = logging.getLogger("nudgebot.telegram")
LONG_POLL = 25  # seconds Telegram holds an empty getUpdates open
READ_GRACE = 10.0  # seconds beyond the long poll before a silent connection counts as dead
LOCK_RETRY = 30.0
BACKOFF = (1.0, 60.0)
RETENTION = timedelta(hours=24)  # how long Telegram keeps an undelivered update


class OffsetStore(Protocol):
    """Where the next ``getUpdates`` offset is kept, per bot (the key names it)."""

    async def load(self, key: str) -> tuple[int, datetime] | None: ...

    async def save(self, key: str, offset: int, at: datetime) -> None: ...


class Poller:
    def __init__(
        self,
        service: TelegramService,
        lock: PollLock,
        *,
        offsets: OffsetStore | None = None,
        now: Callable[[], datetime] | None = None,
        long_poll: int = LONG_POLL,
        lock_retry: float = LOCK_RETRY,
        backoff: tuple[float, float] = BACKOFF,
    ) -> None:
        self.service = service
        self.lock = lock
        self.offsets = offsets
        self.now = now or service.now
        self.long_poll = long_poll
        self.lock_retry = lock_retry
        self.backoff = backoff
        self.polling = False  # true while this replica holds the lock and polls
        self._task: asyncio.Task[None] | None = None
        self._locked = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="telegram-polling")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._locked:
            await self.lock.release()
            self._locked = False
        self.polling = False

    async def _run(self) -> None:
        told = False
        while not self._locked:
            self._locked = await self.lock.acquire()
            if not self._locked:
                if not told:
                    log.info("another replica polls Telegram; this one waits its turn")
                    told = True
                await asyncio.sleep(self.lock_retry)
        await self.service.wait_started()
        await self.service.application.bot.delete_webhook()
        self.polling = True
        log.info("polling Telegram for updates")
        await self._loop(await self._resume())

    @property
    def key(self) -> str:
        return f"telegram:{self.service.application.bot.id}"

    async def _resume(self) -> int | None:
        if self.offsets is None:
            return None
        try:
            found = await self.offsets.load(self.key)
        except Exception as exc:
            log.warning("saved Telegram offset unreadable (%s); Telegram's own is used", exc)
            return None
        if found is None:
            return None
        offset, at = found
        if self.now() - at > RETENTION:
            log.info("saved Telegram offset is from %s, past Telegram's 24 h: not used", at)
            return None
        log.info("resuming Telegram updates from offset %s", offset)
        return offset

    async def _save(self, offset: int) -> None:
        if self.offsets is None:
            return
        try:
            await self.offsets.save(self.key, offset, self.now())
        except Exception as exc:  # the update is stored; only a restart would repeat it
            log.warning("Telegram offset %s not saved: %s", offset, exc)

    async def fetch(self, offset: int | None) -> list[Any]:
        """One ``getUpdates``, as raw JSON objects."""
        bot = self.service.application.bot
        data: dict[str, Any] = {"timeout": self.long_poll, "allowed_updates": list(ALLOWED_UPDATES)}
        if offset is not None:
            data["offset"] = offset
        # Bot._post: PTB's own get_updates goes through it too, minus parsing the batch as a
        # whole. (do_api_request would warn that get_updates exists.)
        result = await bot._post("getUpdates", data, read_timeout=self.long_poll + READ_GRACE)
        return list(result) if isinstance(result, list) else []

    async def _loop(self, offset: int | None) -> None:
        wait, longest = self.backoff
        failures = 0
        while True:
            try:
                items = await self.fetch(offset)
            except Conflict as exc:  # a webhook was set again, or another poller runs
                log.error("getUpdates conflict: %s", exc)
                failures += 1
                await asyncio.sleep(min(wait * 2**failures, longest))
                continue
            except Exception as exc:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", exc)
                await asyncio.sleep(min(wait * 2**failures, longest))
                continue
            for item in items:
                update_id = item.get("update_id") if isinstance(item, dict) else None
                raw = json.dumps(item).encode()
                try:
                    if type(update_id) is int:
                        await self.service.receive_json(item, raw)
                    else:
                        await self.service.keep(raw, "getUpdates item without an update_id")
                except NotStarted:
                    break
                except Exception as exc:
                    failures += 1
                    log.warning("update %s not stored (%s); fetching it again", update_id, exc)
                    await asyncio.sleep(min(wait * 2**failures, longest))
                    break
                if type(update_id) is int:
                    offset = max(offset or 0, update_id + 1)
                    await self._save(offset)
            else:
                failures = 0
