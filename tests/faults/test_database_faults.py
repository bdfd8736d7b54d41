"""Database faults while serving: PostgreSQL restarted or away, SQLite locked by another
process. A message that cannot be stored is answered 503 (the sender retries), nothing
answered 200 is lost, the process reconnects by itself, /readyz tells, and the scheduler
logs one line per failed tick and catches up once the database is back.

PostgreSQL here is a private server (``tests.faults.pgserver``), never the shared one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from adapters.console.recording import RecordingMessenger
from adapters.slack.service import SlackService, SlackSettings
from bot.app import Runtime
from bot.config import parse_config
from bot.web.app import create_app
from bot.wiring.core import CoreService
from bot.wiring.slack import component
from storage.migrate import upgrade
from storage.models import Message, Nudge
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.faults.pgserver import PgServer
from tests.slack.slack_payloads import SECRET as SLACK_SECRET
from tests.slack.slack_payloads import message as slack_message
from tests.slack.slack_payloads import post as slack_post

SECRET = "s3cret-for-faults"
CONFIG = f"""\
timezone: UTC
team:
  alice: {{name: Alice, slack: U0ALICE01, owner: true}}
policies:
  fast: {{reply_within: 2s, remind_every: 1h}}
sources:
  site: {{platform: webhook, secret: {SECRET}, owner: alice, policy: fast}}
"""


def body(n: int, at: datetime | None = None) -> bytes:
    return json.dumps({
        "thread": f"t{n}", "id": f"m{n}", "at": (at or datetime.now(UTC)).isoformat(),
        "team": False, "author": {"id": f"c{n}", "name": "Dana"}, "text": "Where is my order?",
    }).encode()  # fmt: skip


async def post(client: httpx.AsyncClient, payload: bytes) -> httpx.Response:
    sig = "sha256=" + hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
    return await client.post(
        "/hooks/site", content=payload,
        headers={"X-Nudgebot-Signature": sig, "Content-Type": "application/json"},
    )  # fmt: skip


async def stored(runtime: Runtime) -> list[str]:
    async with runtime.db.read() as s:
        return sorted((await s.scalars(select(Message.message_id))).all())


def private_pg(pg_server: PgServer, name: str) -> str:
    return pg_server.database(name)


async def test_postgres_restart_503_then_reconnects_by_itself(pg_server: PgServer) -> None:
    runtime = Runtime.from_config(parse_config(CONFIG), private_pg(pg_server, "restart"))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)),
                               base_url="http://t")  # fmt: skip
    try:
        assert (await post(client, body(1))).status_code == 200
        assert (await client.get("/readyz")).status_code == 200

        pg_server.stop()  # every pooled connection is now dead
        down = await post(client, body(2))
        assert down.status_code == 503 and down.headers["retry-after"]
        assert "database unavailable" in down.json()["error"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and "database" in ready.json()["error"]
        assert (await client.get("/healthz")).status_code == 200  # alive, just not ready

        pg_server.start()  # same process, no restart: the pool reconnects (pre-ping)
        assert (await client.get("/readyz")).status_code == 200
        assert (await post(client, body(2))).status_code == 200  # the sender's retry
        assert (await post(client, body(1))).status_code == 200  # a duplicate changes nothing
        assert await stored(runtime) == ["m1", "m2"]
    finally:
        if not pg_server.running():
            pg_server.start()
        await client.aclose()
        await runtime.close()


async def test_scheduler_survives_an_outage_and_nudges_once_afterwards(
    pg_server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = Runtime.from_config(parse_config(CONFIG), private_pg(pg_server, "outage"))
    messenger = RecordingMessenger("slack")
    runtime.messengers["slack"] = messenger
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)),
                               base_url="http://t")  # fmt: skip
    await runtime.start()
    try:
        assert (await post(client, body(1))).status_code == 200  # due 2 s from now
        pg_server.stop()
        assert runtime.scheduler is not None
        failed_before = runtime.scheduler.failures
        for _ in range(200):  # the due time passes while the database is away
            if runtime.scheduler.failures >= failed_before + 2:
                break
            await asyncio.sleep(0.1)
        assert runtime.scheduler.failures >= 2 and messenger.nudges == []
        await asyncio.sleep(2.5)  # certainly past due now
        pg_server.start()
        for _ in range(300):  # generous: backoff caps at 5 s
            if messenger.nudges:
                break
            await asyncio.sleep(0.1)
        assert len(messenger.nudges) == 1
        await asyncio.sleep(1.0)
        assert len(messenger.nudges) == 1  # once, not once per failed tick
        async with runtime.db.read() as s:
            states = dict(
                (await s.execute(select(Nudge.state, func.count()).group_by(Nudge.state)))
                .tuples()
                .all()
            )
        assert states == {"sent": 1}
    finally:
        if not pg_server.running():
            pg_server.start()
        await client.aclose()
        await runtime.close()
    failures = [
        r for r in caplog.records if r.name == "nudgebot.scheduler" and r.levelno >= logging.WARNING
    ]
    assert failures and all("database unavailable" in r.getMessage() for r in failures)
    assert all(r.exc_info is None for r in failures)  # one line each, no traceback


async def test_sqlite_locked_by_another_process_is_503_and_never_stalls_the_loop(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    upgrade(url)
    runtime = Runtime.from_config(parse_config(CONFIG), url)
    runtime.db.busy_seconds = 1.0
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)),
                               base_url="http://t")  # fmt: skip
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process's writer, holding on
        pending = asyncio.create_task(post(client, body(1)))
        await asyncio.sleep(0.2)
        assert not pending.done()
        health = await client.get("/healthz")  # answered while the writer waits
        assert health.status_code == 200 and not pending.done()
        locked = await pending
        assert locked.status_code == 503 and "database unavailable" in locked.json()["error"]
        other.execute("ROLLBACK")
        assert (await post(client, body(1))).status_code == 200  # the retry lands
        assert await stored(runtime) == ["m1"]
    finally:
        other.close()
        await client.aclose()
        await runtime.close()


SLACK_CONFIG = """\
timezone: UTC
team:
  alice: {name: Alice, slack: U0ALICE01, owner: true}
sources:
  acme: {platform: slack, channels: [C0CUST001], owner: alice, customers: everyone-else}
"""


async def test_slack_signed_event_during_a_postgres_restart(pg_server: PgServer) -> None:
    """A Slack event that cannot be stored is not acknowledged (503): Slack's retry, once
    the database is back, is stored — once."""
    fake = await FakeSlack().start()
    runtime = Runtime.from_config(parse_config(SLACK_CONFIG), private_pg(pg_server, "slack"))
    service = SlackService(
        SlackSettings(bot_token=BOT_TOKEN, signing_secret=SLACK_SECRET, api_url=fake.api_url),
        CoreService(runtime), runtime.config, runtime.now,
    )  # fmt: skip
    part = component(service)
    assert part.start is not None and part.stop is not None
    await part.start()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime, routes=part.routes)),
        base_url="http://t",
    )
    now = datetime.now(UTC).timestamp()
    first = slack_message(f"{now:.6f}", event_id="Ev0FAULT001")
    second = slack_message(f"{now + 1:.6f}", event_id="Ev0FAULT002", thread_ts=f"{now:.6f}")
    try:
        assert (await slack_post(client, first)).status_code == 200
        pg_server.stop()
        refused = await slack_post(client, second)
        assert refused.status_code == 503  # not acknowledged: Slack delivers it again
        pg_server.start()
        assert (await slack_post(client, second, retry=1)).status_code == 200
        assert (await slack_post(client, second, retry=2)).status_code == 200
        await service.deps.background.drain()
        async with runtime.db.read() as s:
            rows = (await s.scalars(select(Message.message_id))).all()
        assert len(rows) == 2 and len(set(rows)) == 2
    finally:
        if not pg_server.running():
            pg_server.start()
        await client.aclose()
        await part.stop()
        await runtime.close()
        await fake.stop()
