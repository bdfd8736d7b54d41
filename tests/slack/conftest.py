"""The Slack adapter behind the real web app, over the real test database, talking HTTP to
the fake Slack Web API (``tests/fakes/slack_api.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from adapters.slack.service import SlackService, SlackSettings
from bot.app import Runtime
from bot.config import Config, load_config
from bot.web.app import create_app
from bot.wiring.component import Component
from bot.wiring.core import CoreService
from bot.wiring.slack import component
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.slack.slack_payloads import SECRET

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

CONFIG = """\
timezone: UTC
team:
  alice:
    name: Alice
    slack: U0ALICE01
    timezone: Europe/Berlin
    owner: true
  bob:
    name: Bob
    slack: U0BOB0002
    timezone: America/New_York
rotations:
  support:
    members: [alice, bob]
    shift: 1w
    handoff: Mon 09:00
    start: 2026-11-02
policies:
  standard:
    reply_within: 15m
sources:
  acme:                       # a community channel: anyone not on the team is a customer
    platform: slack
    channels: [C0CUST001]
    owner: alice
    policy: standard
    customers: everyone-else
  partners:                   # Slack Connect: the other workspace's people are the customers
    platform: slack
    channels: [C0PARTNER1]
    owner: bob
    policy: standard
    reactions: {not_needed: heavy_check_mark, claim: [eyes, raising_hand]}
"""


@dataclass
class Clock:
    value: datetime = NOW

    def now(self) -> datetime:
        return self.value

    def advance(self, **delta: float) -> None:
        self.value += timedelta(**delta)


@dataclass
class Slack:
    """Everything a Slack test touches."""

    fake: FakeSlack
    service: SlackService
    component: Component
    core: CoreService
    runtime: Runtime
    http: httpx.AsyncClient
    clock: Clock

    async def settle(self) -> None:
        """Wait for the work Slack handlers started after their ack."""
        await self.service.deps.background.drain()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(str(path))


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeSlack]:
    server = await FakeSlack(clock=lambda: clock.now().timestamp()).start()
    yield server
    await server.stop()


@pytest.fixture
async def runtime(config: Config, db_url: str, clock: Clock) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_config(config, db_url, now=clock.now)
    yield runtime
    await runtime.close()


@pytest.fixture
def settings(fake: FakeSlack) -> SlackSettings:
    return SlackSettings(
        bot_token=BOT_TOKEN, signing_secret=SECRET, api_url=fake.api_url, post_interval=0.02
    )


@pytest.fixture
async def slack(
    fake: FakeSlack, runtime: Runtime, settings: SlackSettings, clock: Clock
) -> AsyncIterator[Slack]:
    core = CoreService(runtime)
    service = SlackService(settings, core, runtime.config, clock.now)
    part = component(service)
    assert part.start is not None and part.stop is not None
    runtime.attach(part)  # the engine delivers nudges and replies through our messenger
    await part.start()
    app = create_app(runtime, routes=part.routes)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield Slack(fake, service, part, core, runtime, http, clock)
        await service.deps.background.drain()
    await part.stop()
