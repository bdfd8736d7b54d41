"""Polling mode (development, or no public URL): ``getUpdates`` in a loop, each update through
the same ``receive`` as the webhook.

Only one replica may poll — Telegram answers a second ``getUpdates`` with 409 Conflict — so
the loop first takes the wiring's lock (a PostgreSQL advisory lock) and waits while another
replica holds it. The offset moves past an update only once it is handled: a storage
failure leaves it to be fetched again.
"""

from __future__ import annotations

import asyncio
import logging

from telegram.error import Conflict

from adapters.telegram.service import ALLOWED_UPDATES, NotStarted, PollLock, TelegramService

log = logging.getLogger("nudgebot.telegram")
LONG_POLL = 25  # seconds Telegram holds an empty getUpdates open
LOCK_RETRY = 30.0
BACKOFF = (1.0, 60.0)


class Poller:
    def __init__(
        self,
        service: TelegramService,
        lock: PollLock,
        *,
        long_poll: int = LONG_POLL,
        lock_retry: float = LOCK_RETRY,
        backoff: tuple[float, float] = BACKOFF,
    ) -> None:
        self.service = service
        self.lock = lock
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
        await self._loop()

    async def _loop(self) -> None:
        bot = self.service.application.bot
        offset: int | None = None
        wait, longest = self.backoff
        failures = 0
        while True:
            try:
                updates = await bot.get_updates(
                    offset=offset, timeout=self.long_poll, allowed_updates=list(ALLOWED_UPDATES)
                )
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
            for update in updates:
                try:
                    await self.service.receive(update)
                except NotStarted:
                    break
                except Exception as exc:
                    failures += 1
                    log.warning("update %s not stored (%s); fetching it again",
                                update.update_id, exc)  # fmt: skip
                    await asyncio.sleep(min(wait * 2**failures, longest))
                    break
                offset = update.update_id + 1
            else:
                failures = 0
