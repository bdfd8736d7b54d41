"""A WhatsApp harness: the real ASGI app, the real database, the real adapter (httpx) and a
fake Graph API on loopback; notifications are signed like Meta signs them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from starlette.applications import Starlette

from adapters.whatsapp.verify import sign
from bot.app import Runtime
from bot.config import load_config
from bot.web.app import create_app
from bot.web.metrics import Metrics
from bot.wiring.core import CoreService
from bot.wiring.process import _ready_check
from bot.wiring.whatsapp import WhatsApp, WhatsAppSettings, assemble
from storage.models import Conversation, Message
from tests.fakes.whatsapp_api import TOKEN, FakeWhatsAppAPI
from tests.whatsapp.payloads import PHONE_NUMBER_ID, TS, encode

APP_SECRET = "meta-app-secret-for-tests-0123456789"
VERIFY_TOKEN = "verify-me-7f3a9c"
T0 = datetime.fromtimestamp(TS, UTC)

CONFIG = f"""\
timezone: UTC
team:
  alice:
    name: Alice
    slack: U0ALICE01
    owner: true
policies:
  standard:
    reply_within: 15m
  slow:
    reply_within: 2d
sources:
  wa:
    platform: whatsapp
    phone_number_id: "{PHONE_NUMBER_ID}"
    owner: alice
    policy: standard
"""


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
    fake: FakeWhatsAppAPI
    wa: WhatsApp
    app: Starlette
    client: httpx.AsyncClient
    clock: Clock
    metrics: Metrics

    async def post(
        self, payload: Any, *, signature: str | bytes | None = None, secret: str = APP_SECRET
    ) -> httpx.Response:
        """POST as Meta does: raw JSON bytes, signed unless ``signature`` says otherwise."""
        body = payload if isinstance(payload, bytes) else encode(payload)
        headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
        value = sign(secret, body) if signature is None else signature
        if value:
            headers["X-Hub-Signature-256"] = value
        return await self.client.post("/whatsapp/webhook", content=body, headers=headers)

    async def messages(self) -> list[tuple[str, str, str, bool]]:
        """(message id, thread, text, is_team) of every stored message, in platform order."""
        m, c = Message, Conversation
        async with self.runtime.db.read() as session:
            rows = await session.execute(
                select(m.message_id, c.thread, m.text, m.is_team)
                .join(c, c.id == m.conversation_id)
                .order_by(m.at, m.message_id)
            )
            return [tuple(r) for r in rows.tuples()]  # type: ignore[misc]


@asynccontextmanager
async def harness(tmp_path: Path, db_url: str, config_text: str = CONFIG) -> AsyncIterator[Harness]:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(config_text, encoding="utf-8")
    clock = Clock()
    runtime = Runtime.from_config(load_config(str(path)), db_url, now=clock)
    core = CoreService(runtime)
    metrics = Metrics()
    with FakeWhatsAppAPI(clock=lambda: clock().timestamp()) as fake:
        settings = WhatsAppSettings(TOKEN, APP_SECRET, VERIFY_TOKEN, fake.base_url)
        async with httpx.AsyncClient(timeout=5.0) as http:
            wa = assemble(runtime, core, settings, http)
            runtime.attach(wa.component)
            app = create_app(runtime, metrics=metrics, routes=wa.component.routes,
                             ready_checks=[_ready_check(wa.component)])  # fmt: skip
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://nudgebot.test") as c:
                assert wa.component.start is not None and wa.component.stop is not None
                await wa.component.start()
                try:
                    yield Harness(runtime, core, fake, wa, app, c, clock, metrics)
                finally:
                    await wa.component.stop()
                    await runtime.close()
