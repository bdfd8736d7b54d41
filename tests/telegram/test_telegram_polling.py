"""Polling mode, the single-poller guard and settings from the environment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.telegram.polling import Poller
from bot.wiring.telegram import (
    DEFAULT_API_URL,
    AdvisoryPollLock,
    TelegramConfigError,
    TelegramSettings,
    build,
    derived_secret,
)
from storage.db import Database
from tests.plans import product_statements
from tests.telegram.tg_kit import DANA, GROUP, T0, harness

TOKEN = "123:abc"


async def _until(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    for _ in range(int(within / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not done within {within}s")


async def test_polling_deletes_the_webhook_and_stores_updates(tmp_path: Path, db_url: str) -> None:
    async with harness(tmp_path, db_url, mode="polling", public_url=None, start=False) as tg:
        tg.fake.webhook = {"url": "https://old.example.com/telegram/webhook"}
        first = tg.updates.message(GROUP, DANA, "Hello?", T0)
        tg.fake.queue_update(first)
        tg.fake.queue_update(first)  # served twice (a lost offset, a retry): stored once
        tg.fake.queue_update(tg.updates.message(GROUP, DANA, "Anyone?", T0 + timedelta(minutes=1)))
        assert tg.telegram.component.start is not None
        await tg.telegram.component.start()

        async def done() -> bool:
            return len(await tg.stored()) == 2 and not tg.fake.updates

        await _until(done)
        assert tg.fake.webhook is None  # deleted: Telegram refuses getUpdates while one is set
        assert tg.fake.calls_to("setWebhook") == []
        assert tg.telegram.poller is not None and tg.telegram.poller.polling
        offsets = [c.params.get("offset") for c in tg.fake.calls_to("getUpdates")]
        assert offsets[0] is None and offsets[-1] == first["update_id"] + 2
        assert len(await tg.conversations()) == 1


class NeverLock:
    async def acquire(self) -> bool:
        return False

    async def release(self) -> None:
        raise AssertionError("never acquired")


async def test_a_replica_without_the_lock_does_not_poll(tmp_path: Path, db_url: str) -> None:
    async with harness(tmp_path, db_url) as tg:  # webhook mode: no poller of its own
        other = Poller(tg.service, NeverLock(), lock_retry=0.05)
        await other.start()
        await asyncio.sleep(0.3)
        assert not other.polling
        assert tg.fake.calls_to("getUpdates") == []
        assert tg.fake.calls_to("deleteWebhook") == []
        await other.stop()


async def test_advisory_lock_admits_one_poller(db: Database) -> None:
    """PostgreSQL: the second poller is refused until the first lets go. SQLite serves one
    process, so both are admitted, and without a statement or a held connection (which
    would hold the file's one writer slot for as long as polling runs)."""
    first, second = AdvisoryPollLock(db, key=4242), AdvisoryPollLock(db, key=4242)
    if db.is_sqlite:
        granted: list[bool] = []

        async def both() -> None:
            granted.extend([await first.acquire(), await second.acquire()])
            await first.release()
            await second.release()

        assert await product_statements(db, both) == []
        assert granted == [True, True]
        return
    assert await first.acquire()
    assert not await second.acquire()
    await first.release()
    assert await second.acquire()
    await second.release()


def test_settings_from_the_environment() -> None:
    assert TelegramSettings.from_env({}) is None
    polling = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert polling is not None
    assert (polling.mode, polling.api_url, polling.webhook_url) == ("polling", DEFAULT_API_URL,
                                                                    None)  # fmt: skip
    assert polling.secret == derived_secret(TOKEN) and len(polling.secret) == 64
    hook = TelegramSettings.from_env({
        "TELEGRAM_BOT_TOKEN": TOKEN, "NUDGEBOT_PUBLIC_URL": "https://bot.example.com/",
        "TELEGRAM_WEBHOOK_SECRET": "s3cret_-x", "TELEGRAM_API_URL": "http://127.0.0.1:1/bot",
    })  # fmt: skip
    assert hook is not None
    assert hook.mode == "webhook"
    assert hook.webhook_url == "https://bot.example.com/telegram/webhook"
    assert (hook.secret, hook.api_url) == ("s3cret_-x", "http://127.0.0.1:1/bot")
    assert "s3cret" not in repr(hook) and TOKEN not in repr(hook)
    forced = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_MODE": "Polling",
                                        "NUDGEBOT_PUBLIC_URL": "https://x.example"})  # fmt: skip
    assert forced is not None and forced.mode == "polling"
    for bad in ({"TELEGRAM_MODE": "push"}, {"TELEGRAM_WEBHOOK_SECRET": "has space"},
                {"TELEGRAM_WEBHOOK_SECRET": "x" * 257}):  # fmt: skip
        with pytest.raises(TelegramConfigError):
            TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, **bad})


async def test_build_is_none_without_a_token(tmp_path: Path, db_url: str) -> None:
    async with harness(tmp_path, db_url, start=False) as tg:
        assert build(tg.runtime, tg.core, env={}) is None
        component = build(tg.runtime, tg.core, env={"TELEGRAM_BOT_TOKEN": TOKEN})
        assert component is not None
        assert [getattr(r, "path", None) for r in component.routes] == ["/telegram/webhook"]
        assert component.messenger is not None and component.messenger.platform == "telegram"
        assert component.replier is component.messenger
        assert not component.ready()  # built, not started: no network touched
