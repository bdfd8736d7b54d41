"""The conversation page's actions against the real Slack adapter: a claim on the web is the
same action as the Claim button — in the history (via web) and on the nudge Alice already got,
updated in place through the fake Slack API. Channel names come from ``conversations.info``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from bot.web.app import create_app
from bot.web.metrics import Metrics
from storage.models import ActionRecord, ChannelName
from tests.slack.conftest import NOW, Slack
from tests.slack.slack_payloads import ALICE, CHANNEL, message, post
from tests.slack.test_slack_actions import conversation, tick

T0 = "1795866299.900100"  # 11:44:59.9 UTC: due just before 12:00 (reply_within 15m)
TOKEN = "web-token-0123456789abcdef"


@pytest.fixture
async def web(slack: Slack, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """The dashboard of the same runtime, signed in through the login form (a cookie)."""
    monkeypatch.setenv("NUDGEBOT_API_TOKEN", TOKEN)
    monkeypatch.delenv("NUDGEBOT_PUBLIC_URL", raising=False)
    slack.runtime.attach(slack.component)  # the names lookup (messenger already attached)
    app = create_app(slack.runtime, metrics=Metrics())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        assert (await client.post("/login", data={"token": TOKEN})).status_code == 303
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def test_claim_on_the_web_updates_the_slack_nudge(
    slack: Slack, web: httpx.AsyncClient
) -> None:
    await post(slack.http, message(T0))
    await tick(slack)
    [dm] = slack.fake.posted(ALICE)
    conv = await conversation(slack)
    page = (await web.get(f"/conversations/{conv.id}")).text
    assert "Responsible now: <b>Alice</b>" in page and "owns this source" in page

    form = {"csrf": csrf_of(page), "as": "bob", "action": "claim"}
    done = await web.post(f"/conversations/{conv.id}", data=form)
    assert done.status_code == 303
    assert done.headers["location"] == f"/conversations/{conv.id}?done=claim"
    assert (await conversation(slack)).claimed_by == "bob"
    async with slack.runtime.db.read() as session:
        [action] = (await session.scalars(select(ActionRecord))).all()
    assert (action.kind, action.person, action.via) == ("claim", "bob", "web")

    await tick(slack)  # the nudge Alice got now says Bob has it, in place
    [update] = slack.fake.calls_to("chat.update")
    # in place: the very message posted to Alice's DM, edited
    [(dm_channel, dm_ts)] = [k for k in slack.fake.messages if k[0] == "D" + ALICE[1:]]
    assert (update.params["channel"], update.params["ts"]) == (dm_channel, dm_ts)
    assert slack.fake.messages[(dm_channel, dm_ts)]["blocks"] != dm["blocks"]
    assert "*Claimed* by Bob" in update.params["blocks"][0]["text"]["text"]
    page = (await web.get(f"/conversations/{conv.id}?done=claim")).text
    assert "Claimed. Nudges already sent say so." in page
    assert "Responsible now: <b>Bob</b> — Bob claimed it" in page
    assert re.search(r"<td>claim</td><td>Bob</td><td>web</td>", page)


async def test_assign_and_snooze_on_the_web(slack: Slack, web: httpx.AsyncClient) -> None:
    await post(slack.http, message(T0))
    await tick(slack)
    conv = await conversation(slack)
    token = csrf_of((await web.get(f"/conversations/{conv.id}")).text)
    form = {"csrf": token, "as": "alice", "action": "assign", "to": "bob"}
    assert (await web.post(f"/conversations/{conv.id}", data=form)).status_code == 303
    assert (await conversation(slack)).claimed_by == "bob"
    form = {"csrf": token, "as": "alice", "action": "snooze:tomorrow"}
    assert (await web.post(f"/conversations/{conv.id}", data=form)).status_code == 303
    # Alice is in Berlin: tomorrow 09:00 there is 08:00 UTC.
    assert (await conversation(slack)).snoozed_until == NOW.replace(hour=8) + timedelta(days=1)
    async with slack.runtime.db.read() as session:
        rows = (await session.scalars(select(ActionRecord).order_by(ActionRecord.id))).all()
    assert [(r.kind, r.person, r.via, r.note) for r in rows] == [
        ("claim", "bob", "web", "assigned by Alice"),
        ("snooze", "alice", "web", ""),
    ]
    await tick(slack)
    texts = [c.params["blocks"][0]["text"]["text"] for c in slack.fake.calls_to("chat.update")]
    assert any("Snoozed" in t for t in texts), texts


async def test_channel_names_from_conversations_info_cached(
    slack: Slack, web: httpx.AsyncClient
) -> None:
    await post(slack.http, message(T0))
    first = (await web.get("/")).text
    assert f'title="{CHANNEL}" class="channel">{CHANNEL}</span>' in first  # not known yet: the id
    names = slack.runtime
    await _names_idle(web)
    again = (await web.get("/")).text
    assert f'title="{CHANNEL}" class="channel">#{CHANNEL.lower()}</span>' in again
    assert len(slack.fake.calls_to("conversations.info")) == 1
    await web.get("/")
    await _names_idle(web)
    assert len(slack.fake.calls_to("conversations.info")) == 1  # cached: asked once
    slack.clock.advance(days=1, minutes=1)  # a day later: asked again
    # A day unused ends the dashboard session (bot.web.session.IDLE): sign in again, or
    # the page is the login form and asks for no names at all.
    assert (await web.post("/login", data={"token": TOKEN})).status_code == 303
    later = await web.get("/")
    assert later.status_code == 200 and 'class="channel"' in later.text
    await _names_idle(web)
    assert len(slack.fake.calls_to("conversations.info")) == 2
    async with names.db.read() as session:
        [row] = (await session.scalars(select(ChannelName))).all()
    assert (row.platform, row.channel, row.name) == ("slack", CHANNEL, f"#{CHANNEL.lower()}")


async def _names_idle(web: httpx.AsyncClient) -> None:
    transport = web._transport
    assert isinstance(transport, httpx.ASGITransport)
    await transport.app.state.web.channel_names.idle()  # type: ignore[attr-defined]
