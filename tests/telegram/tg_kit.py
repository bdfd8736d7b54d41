"""Telegram test kit: a config, update builders shaped like the Bot API's documented updates,
and a harness wiring the real Runtime, CoreService, PTB Application (talking HTTP to the fake
Bot API) and the real ASGI app together."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from starlette.applications import Starlette

from adapters.telegram.ratelimit import ChatRateLimiter
from bot.app import Runtime
from bot.config import Config, load_config
from bot.web.app import create_app
from bot.wiring.core import CoreService
from bot.wiring.telegram import Telegram, TelegramSettings, assemble, build_application
from storage.models import Conversation, Message
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, FakeTelegramAPI

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "test-webhook-secret_0123456789"
PUBLIC_URL = "https://nudgebot.example.com"
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
GROUP = -1001234567890
BASIC_GROUP = -4000000001
UNWATCHED = -1009999999999
ALICE, BOB = 111111111, 222222222
DANA, EVE, STRANGER = 5550001, 5550002, 5550099

CONFIG = """\
timezone: UTC
team:
  alice:
    name: Alice
    telegram: 111111111
    notify: telegram
    timezone: Europe/Berlin
    owner: true
  bob:
    name: Bob
    telegram: 222222222
    notify: telegram
policies:
  standard:
    reply_within: 15m
sources:
  community:
    platform: telegram
    chats: [-1001234567890, -4000000001, "@acme_public"]
    owner: alice
    policy: standard
  dms:
    platform: telegram
    private_chats: true
    owner: bob
    policy: standard
"""

USERS: dict[int, dict[str, Any]] = {
    ALICE: {"id": ALICE, "is_bot": False, "first_name": "Alice", "username": "alice"},
    BOB: {"id": BOB, "is_bot": False, "first_name": "Bob"},
    DANA: {"id": DANA, "is_bot": False, "first_name": "Dana", "last_name": "Kim"},
    EVE: {"id": EVE, "is_bot": False, "first_name": "Eve", "username": "eve_x"},
    STRANGER: {"id": STRANGER, "is_bot": False, "first_name": "Mallory"},
}


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        user = USERS.get(chat_id, {"first_name": "User"})
        return {"id": chat_id, "type": "private", "first_name": user["first_name"]}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": "Acme customers"}


@dataclass
class Updates:
    """Builds updates with increasing update_ids; ``number`` is the message_id in its chat."""

    next_id: int = 900_000_000
    numbers: dict[int, int] = field(default_factory=dict)

    def _update_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def message(
        self,
        chat_id: int,
        user: int,
        text: str,
        at: datetime,
        *,
        number: int | None = None,
        reply_to: dict[str, Any] | None = None,
        topic: int | None = None,
        key: str = "message",
        edit_at: datetime | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        if number is None:
            number = self.numbers.get(chat_id, 100) + 1
        self.numbers[chat_id] = max(self.numbers.get(chat_id, 100), number)
        body: dict[str, Any] = {
            "message_id": number,
            "from": USERS[user],
            "chat": chat(chat_id),
            "date": int(at.timestamp()),
            "text": text,
            **extra,
        }
        if reply_to is not None:
            body["reply_to_message"] = reply_to
        if topic is not None:
            body["message_thread_id"] = topic
            body["is_topic_message"] = True
        if edit_at is not None:
            body["edit_date"] = int(edit_at.timestamp())
        return {"update_id": self._update_id(), key: body}

    def edit(self, original: dict[str, Any], text: str, at: datetime) -> dict[str, Any]:
        body = {**original["message"], "text": text, "edit_date": int(at.timestamp())}
        return {"update_id": self._update_id(), "edited_message": body}

    def callback(self, user: int, data: str, held: dict[str, Any]) -> dict[str, Any]:
        return {
            "update_id": self._update_id(),
            "callback_query": {
                "id": f"cq{self.next_id}",
                "from": USERS[user],
                "message": held,
                "chat_instance": "-2948571092835123",
                "data": data,
            },
        }


def as_replied(update: dict[str, Any]) -> dict[str, Any]:
    """The message of ``update`` as it appears inside a reply's ``reply_to_message``."""
    return dict(update.get("message") or update["edited_message"])


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@dataclass
class Harness:
    runtime: Runtime
    core: CoreService
    fake: FakeTelegramAPI
    telegram: Telegram
    app: Starlette
    client: httpx.AsyncClient
    clock: Clock
    updates: Updates

    @property
    def service(self) -> Any:
        return self.telegram.service

    async def post(
        self, update: dict[str, Any] | bytes, secret: str | None = SECRET, **headers: str
    ) -> httpx.Response:
        body = update if isinstance(update, bytes) else json.dumps(update).encode()
        sent = {"Content-Type": "application/json", **headers}
        if secret is not None:
            sent["X-Telegram-Bot-Api-Secret-Token"] = secret
        return await self.client.post("/telegram/webhook", content=body, headers=sent)

    async def stored(self) -> list[tuple[str, str, str, bool]]:
        """(message_id, thread, text, is_team) of every stored message, in time order."""
        m, c = Message, Conversation
        async with self.runtime.db.read() as session:
            rows = await session.execute(
                select(m.message_id, c.thread, m.text, m.is_team)
                .join(c, c.id == m.conversation_id)
                .order_by(m.at, m.id)
            )
            return [(a, b, t, bool(d)) for a, b, t, d in rows.tuples()]

    async def tick(self, to: datetime | None = None) -> None:
        """Move the clock (optionally) and tick as the scheduler does — again at once while
        the engine says there is more (its time budget ran out on a loaded machine) — then
        let answers go out."""
        if to is not None:
            self.clock.at = to
        assert self.runtime.engine is not None
        while (await self.runtime.engine.tick()).more:
            pass
        await self.service.idle()

    async def conversations(self) -> list[Conversation]:
        async with self.runtime.db.read() as session:
            return list(await session.scalars(select(Conversation).order_by(Conversation.id)))


def settings_for(fake: FakeTelegramAPI, **changes: Any) -> TelegramSettings:
    base: dict[str, Any] = {
        "token": fake.token,
        "secret": SECRET,
        "api_url": fake.base_url,
        "mode": "webhook",
        "public_url": PUBLIC_URL,
    }
    base.update(changes)
    return TelegramSettings(**base)


def load_test_config(tmp_path: Path, text: str = CONFIG) -> Config:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(str(path))


@asynccontextmanager
async def harness(
    tmp_path: Path,
    db_url: str,
    *,
    config_text: str = CONFIG,
    limiter: ChatRateLimiter | None = None,
    start: bool = True,
    **settings: Any,
) -> AsyncIterator[Harness]:
    clock = Clock()
    runtime = Runtime.from_config(load_test_config(tmp_path, config_text), db_url, now=clock)
    core = CoreService(runtime)
    with FakeTelegramAPI() as fake:
        chosen = settings_for(fake, **settings)
        # Tests send many messages to one chat within a second; the per-chat limit has a
        # test of its own.
        application = build_application(
            chosen, limiter or ChatRateLimiter(chat_per_second=1000, max_retries=3)
        )
        telegram = assemble(runtime, core, chosen, application=application)
        runtime.attach(telegram.component)  # the engine delivers nudges through our messenger
        app = create_app(runtime, routes=telegram.component.routes)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nudgebot.test") as c:
            if start:
                assert telegram.component.start is not None
                await telegram.component.start()
            try:
                yield Harness(runtime, core, fake, telegram, app, c, clock, Updates())
            finally:
                assert telegram.component.stop is not None
                await telegram.component.stop()
                await runtime.close()


__all__ = ["BOT_ID", "BOT_USERNAME"]
