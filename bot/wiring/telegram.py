"""Telegram from the environment: a ``Component`` with the webhook route, the messenger and
start/stop — or None when ``TELEGRAM_BOT_TOKEN`` is unset.

| variable | meaning | default |
|---|---|---|
| ``TELEGRAM_BOT_TOKEN`` | the bot's token from BotFather | Telegram off |
| ``TELEGRAM_WEBHOOK_SECRET`` | echoed by Telegram on every webhook call (1–256 of A-Z a-z 0-9 _ -) | derived from the token |
| ``TELEGRAM_API_URL`` | Bot API base | ``https://api.telegram.org/bot`` |
| ``TELEGRAM_MODE`` | ``webhook`` or ``polling`` | webhook if ``NUDGEBOT_PUBLIC_URL`` is set |
| ``NUDGEBOT_PUBLIC_URL`` | where Telegram reaches us: ``setWebhook(<url>/telegram/webhook)`` | unset |
"""  # noqa: E501

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection
from telegram.ext import ApplicationBuilder

from adapters.telegram.names import TelegramChatNames
from adapters.telegram.polling import Poller
from adapters.telegram.ratelimit import ChatRateLimiter
from adapters.telegram.service import AnyApplication, TelegramService
from adapters.telegram.webhook import PATH, webhook_route
from bot.app import Runtime
from bot.domain.ports import Core
from bot.wiring.component import Component
from storage import cursors_repo
from storage.db import Database

log = logging.getLogger("nudgebot.telegram")
DEFAULT_API_URL = "https://api.telegram.org/bot"
MODES = ("webhook", "polling")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# "The database is not there right now": the route answers 503 and Telegram redelivers.
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, ConnectionError, TimeoutError,
)  # fmt: skip
# pg_try_advisory_lock key: the first 8 bytes of sha256("nudgebot:telegram-polling").
POLL_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"nudgebot:telegram-polling").digest()[:8], "big", signed=True
)


class TelegramConfigError(ValueError):
    pass


@dataclass(frozen=True)
class TelegramSettings:
    token: str = field(repr=False)
    secret: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    mode: str = "polling"
    public_url: str | None = None

    @property
    def webhook_url(self) -> str | None:
        return self.public_url.rstrip("/") + PATH if self.public_url else None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TelegramSettings | None:
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            return None
        secret = env.get("TELEGRAM_WEBHOOK_SECRET", "").strip() or derived_secret(token)
        if not _SECRET.match(secret):
            raise TelegramConfigError(
                "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
                "(Telegram's rule for secret_token); e.g. generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        public = env.get("NUDGEBOT_PUBLIC_URL", "").strip() or None
        mode = env.get("TELEGRAM_MODE", "").strip().lower() or ("webhook" if public else "polling")
        if mode not in MODES:
            raise TelegramConfigError(f"TELEGRAM_MODE={mode!r}: use webhook or polling")
        if public is not None and not public.lower().startswith("https://"):
            log.warning("NUDGEBOT_PUBLIC_URL %r is not https: Telegram only calls https "
                        "webhooks", public)  # fmt: skip
        api_url = env.get("TELEGRAM_API_URL", "").strip() or DEFAULT_API_URL
        return cls(token, secret, api_url, mode, public)


def derived_secret(token: str) -> str:
    """A webhook secret every replica computes alike when none is configured: a hash of the
    token, which is itself the secret that matters."""
    return hashlib.sha256(b"nudgebot-telegram-webhook:" + token.encode()).hexdigest()


def build_application(
    settings: TelegramSettings, limiter: ChatRateLimiter | None = None
) -> AnyApplication:
    """No updater: updates come from our route or poller. Every call goes to ``api_url``."""
    # Opt in to PTB 23's timedelta periods now: PTB 22 warns on every 429 otherwise (it reads
    # RetryAfter.retry_after itself), and our code reads both forms.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    return (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_url)
        .updater(None)
        .rate_limiter(limiter if limiter is not None else ChatRateLimiter())
        .build()
    )


class AdvisoryPollLock:
    """``pg_try_advisory_lock`` on a connection held while polling; on SQLite (one process)
    the lock is always granted."""

    def __init__(self, db: Database, key: int = POLL_LOCK_KEY) -> None:
        self.db = db
        self.key = key
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self.db.is_sqlite:
            return True
        conn = await self.db.engine.connect()
        got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
        if got:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            finally:
                await self._conn.close()
                self._conn = None


class StoredOffsets:
    """The polling offset in ``poll_cursors`` (key ``telegram:<bot id>``: a new token starts
    afresh), next to the polled sources' cursors."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, key: str) -> tuple[int, datetime] | None:
        found = await cursors_repo.load_cursor_at(self.db, key)
        if found is None or not found[0].isdigit():
            return None
        return int(found[0]), found[1]

    async def save(self, key: str, offset: int, at: datetime) -> None:
        await cursors_repo.save_cursor(self.db, key, str(offset), at)


@dataclass
class Telegram:
    """What ``assemble`` builds: the component the app runs, and its parts for tests."""

    component: Component
    service: TelegramService
    poller: Poller | None
    settings: TelegramSettings


def assemble(
    runtime: Runtime,
    core: Core,
    settings: TelegramSettings,
    application: AnyApplication | None = None,
) -> Telegram:
    """``application`` lets tests hand in one built against a fake Bot API server."""
    if settings.mode == "webhook" and settings.webhook_url is None:
        log.warning("TELEGRAM_MODE=webhook without NUDGEBOT_PUBLIC_URL: not calling "
                    "setWebhook; point the bot at %s yourself", PATH)  # fmt: skip
    app = application if application is not None else build_application(settings)
    service = TelegramService(
        app, core, runtime.config, runtime.now,
        webhook_url=settings.webhook_url if settings.mode == "webhook" else None,
        secret=settings.secret, transient=TRANSIENT,
    )  # fmt: skip
    poller = (
        Poller(service, AdvisoryPollLock(runtime.db), offsets=StoredOffsets(runtime.db))
        if settings.mode == "polling"
        else None
    )

    async def start() -> None:
        await service.start()
        if poller is not None:
            await poller.start()

    async def stop() -> None:
        if poller is not None:
            await poller.stop()
        await service.stop()

    component = Component(
        name="telegram",
        routes=[webhook_route(service, settings.secret)],
        messenger=service.messenger,
        replier=service.messenger,
        namer=TelegramChatNames(service.bot),
        start=start,
        stop=stop,
        ready=service.ready,
    )
    return Telegram(component, service, poller, settings)


def build(runtime: Runtime, core: Core, env: Mapping[str, str] | None = None) -> Component | None:
    """The Telegram component from the environment; None when ``TELEGRAM_BOT_TOKEN`` is
    unset. Raises ``TelegramConfigError`` (a ValueError) for a bad mode or secret."""
    settings = TelegramSettings.from_env(os.environ if env is None else env)
    return None if settings is None else assemble(runtime, core, settings).component
