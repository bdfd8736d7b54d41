"""From the environment to a running component: HTTP events, or Socket Mode."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import func, select

from adapters.slack.service import SlackService, SlackSettings
from bot.app import Runtime
from bot.web.app import create_app
from bot.wiring.core import CoreService
from bot.wiring.process import assemble
from bot.wiring.slack import build, settings_from_env
from storage.models import Message
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.slack.conftest import Clock
from tests.slack.slack_payloads import SECRET, load, message, post


async def test_a_reconnect_pulls_the_catch_up_the_process_was_assembled_with(
    runtime: Runtime, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built in dependency order (issue 17): the wake first, handed to the core the adapter
    is given and to the catch-up service. Nothing is patched into the feed afterwards."""
    for name, value in {
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url, "SLACK_APP_TOKEN": APP_TOKEN,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    process = assemble(runtime)
    [part] = [c for c in process.components if c.name == "slack"]
    assert process.catchup is not None and part.catchup is not None
    assert process.catchup.feeds == [part.catchup] and not hasattr(part.catchup, "wake")
    assert part.start is not None and part.stop is not None
    await part.start()
    try:
        for _ in range(200):
            if fake._sockets:
                break
            await asyncio.sleep(0.01)
        assert not process.catchup.wake.take()  # the first hello is the start
        await fake.socket_send({"type": "hello", "num_connections": 1})
        for _ in range(200):
            if process.catchup.wake.take():
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the reconnect did not reach the catch-up service")
    finally:
        await part.stop()


def test_off_without_both_secrets(runtime: Runtime) -> None:
    core = CoreService(runtime)
    assert build(runtime, core, env={}) is None
    assert build(runtime, core, env={"SLACK_BOT_TOKEN": "xoxb-1"}) is None
    assert build(runtime, core, env={"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": " "}) is None


def test_settings_from_env() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_API_URL": "http://127.0.0.1:9/api",
    }
    settings = settings_from_env(env)
    assert settings is not None
    assert settings.api_url == "http://127.0.0.1:9/api/" and settings.app_token is None
    default = settings_from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    assert default is not None and default.api_url == "https://slack.com/api/"


async def test_http_component(runtime: Runtime, fake: FakeSlack) -> None:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
    }
    part = build(runtime, CoreService(runtime), env=env)
    assert part is not None and part.name == "slack"
    assert [getattr(r, "path", None) for r in part.routes] == ["/slack/events"]
    assert part.messenger is not None and part.messenger.platform == "slack"
    assert part.replier is part.messenger
    assert part.start is not None and part.stop is not None
    assert not part.ready()
    await part.start()
    assert part.ready()  # auth.test answered
    await part.stop()
    assert not part.ready()


async def test_socket_mode(runtime: Runtime, fake: FakeSlack, clock: Clock) -> None:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "SLACK_APP_TOKEN": APP_TOKEN,
    }
    part = build(runtime, CoreService(runtime), env=env)
    assert part is not None and part.routes == []  # Slack sends nothing over HTTP
    assert part.start is not None and part.stop is not None
    await part.start()
    try:
        [opened] = fake.calls_to("apps.connections.open")
        assert opened.token == APP_TOKEN
        for _ in range(200):
            if fake._sockets:
                break
            await asyncio.sleep(0.01)
        event = load("message.json")
        await fake.socket_send(
            {
                "envelope_id": "env-1",
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": 0,
                "retry_reason": "",
                "payload": event,
            }
        )
        for _ in range(300):
            if fake.socket_acks:
                break
            await asyncio.sleep(0.01)
        assert fake.socket_acks[0]["envelope_id"] == "env-1"
        async with runtime.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Message)) == 1
    finally:
        await part.stop()
    assert json.dumps(fake.socket_acks)


async def test_event_before_slack_answers_auth_test_is_retried_not_lost(
    runtime: Runtime, fake: FakeSlack, clock: Clock
) -> None:
    settings = SlackSettings(BOT_TOKEN, SECRET, api_url=fake.api_url)
    service = SlackService(settings, CoreService(runtime), runtime.config, clock.now)
    app = create_app(runtime, routes=service.routes)
    fake.fail_next(3, 500, retry_after=None, methods=("auth.test",))
    event = message("1795865400.000100", event_id="Ev0AUTH0001")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        first = await post(c, event)
        assert first.status_code == 503  # not acknowledged: Slack delivers it again
        async with runtime.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Message)) == 0
        assert (await post(c, event, retry=1)).status_code == 200
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 1
    assert len(fake.calls_to("auth.test")) == 1  # one answer, shared by Bolt and the adapter
    await service.stop()
