"""Every Slack payload in ../shared/data/realdata/slack/ (Slack's docs, bolt-python's recorded
deliveries, slack_sdk's signing example) through the real ``/slack/events`` route, signed as
Slack signs, adapting only ids and times (as that folder's README lists).

Never a 5xx; customer messages wait; team replies end waits; Slack Connect customers are
customers even where only ``event.team`` and the envelope name their workspace, and their
thread replies end nothing; edits and deletions apply; joins, bots and other non-speech
store nothing.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from sqlalchemy import select

from adapters.slack.catchup import slack_ts
from storage.models import Message
from tests.conftest import shared_data
from tests.fakes.slack_api import TEAM_ID
from tests.slack.conftest import NOW, Slack
from tests.slack.slack_payloads import ALICE, OTHER_TEAM, post, sign

HOME = {"T123ABC456", "T111", "T_INSTALLED", "INSTALLED_TEAM_ID"}
ACTOR = {"TEAM_ID_ACTOR": OTHER_TEAM, "ENTERPRISE_ID_ACTOR": "E0CUSTOMER"}
WATCHED = "C0CUST001"  # acme: everyone not on the team is a customer
CONNECT = "C0PARTNER1"  # partners: a Slack Connect channel
UNWATCHED = "C0ELSEWHERE"
_TS = re.compile(r"^\d{9,10}\.\d{6}$")
_TS_KEYS = {"ts", "thread_ts", "event_ts", "deleted_ts", "latest_reply", "message_ts"}


def realdata() -> Path:
    return shared_data("realdata/slack")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((realdata() / name).read_text(encoding="utf-8"))
    return data


def _walk(value: Any, fix: Any) -> Any:
    if isinstance(value, dict):
        return {k: fix(k, _walk(v, fix)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fix) for v in value]
    return value


class Adapter:
    """Ids to the test's workspace and channels; every message time rebased, in order and
    keeping equalities, onto the ten minutes before the test clock's now."""

    def __init__(self, names: list[str]) -> None:
        stamps: set[str] = set()
        for name in names:
            _walk(load(name), lambda k, v: stamps.add(v) if k in _TS_KEYS and _is_ts(v) else v)
        ordered = sorted(stamps, key=lambda ts: (int(ts.split(".")[0]), ts))
        start = NOW.timestamp() - 600
        step = 590 / max(len(ordered), 1)
        self.ts = {old: slack_ts_at(start + i * step) for i, old in enumerate(ordered)}

    def body(self, name: str, channel: str, **event: Any) -> dict[str, Any]:
        data = load(name)

        def fix(key: str, value: Any) -> Any:
            if key in _TS_KEYS and _is_ts(value):
                return self.ts[value]
            if isinstance(value, str) and value in HOME:
                return TEAM_ID
            if isinstance(value, str) and value in ACTOR:
                return ACTOR[value]
            if key == "channel" and isinstance(value, str):
                return channel
            return value

        body: dict[str, Any] = _walk(data, fix)
        inner = body.setdefault("event", {})
        inner.setdefault("channel", channel)  # docs snippets omit it; deliveries carry it
        for key, value in event.items():
            if value is None:
                inner.pop(key, None)
            else:
                inner[key] = value
        body["event_id"] = f"Ev{name.split('.')[0][-12:]}{len(event)}{time.monotonic_ns()}"
        return body


def _is_ts(value: object) -> bool:
    return isinstance(value, str) and bool(_TS.match(value))


def slack_ts_at(seconds: float) -> str:
    return slack_ts(datetime.fromtimestamp(round(seconds, 6), UTC))


async def stored(slack: Slack) -> dict[str, Message]:
    async with slack.runtime.db.read() as session:
        return {m.message_id: m for m in (await session.scalars(select(Message))).all()}


async def waiting_threads(slack: Slack) -> set[str]:
    out = set()
    for item in await slack.core.waiting():
        ref = await slack.core.conversation_ref(item.conversation_id)
        assert ref is not None
        out.add(f"{ref.channel}:{ref.thread}")
    return out


async def send(slack: Slack, body: dict[str, Any] | bytes) -> int:
    response = await post(slack.http, body)
    assert response.status_code < 500, (response.status_code, response.text)
    await slack.settle()
    return response.status_code


async def test_every_real_slack_payload_through_the_route(slack: Slack) -> None:
    folder = realdata()
    names = sorted(p.name for p in folder.glob("*.json"))
    assert len(names) == 28, names  # the README's count: a file added or lost shows here
    a = Adapter(names)
    sent: set[str] = set()

    async def event(name: str, channel: str = WATCHED, **fields: Any) -> int:
        sent.add(name)
        return await send(slack, a.body(name, channel, **fields))

    ts = a.ts
    docs_message = ts["1355517523.000005"]
    bolt_message = ts["1596183880.004200"]
    user_message = ts["1610261659.001400"]

    # Speech in a watched channel: customers (acme counts everyone off the team).
    assert await event("docs_message.json") == 200
    assert await event("bolt_message.json") == 200
    assert await event("bolt_user_message.json") == 200
    assert await event("bolt_file_share.json") == 200
    assert await event("bolt_thread_broadcast.json") == 200
    # Mentions outside the watched channels go to the catch-all source.
    assert await event("bolt_app_mention.json", UNWATCHED) == 200
    assert await event("docs_app_mention.json", UNWATCHED) == 200
    # Slack Connect: bolt's recorded deliveries, in the shared channel.
    mention = ts["1678451405.023359"]
    assert await event("bolt_connect_app_mention.json", CONNECT) == 200
    assert await event("bolt_connect_message.json", CONNECT) == 200
    assert await event("bolt_connect_mention_message.json", CONNECT) == 200
    # The connect customer once more, as a thread reply under the app mention: ends nothing.
    follow_up = slack_ts_at(NOW.timestamp() - 5)
    assert await event("bolt_connect_message.json", CONNECT, ts=follow_up,
                       event_ts=follow_up, thread_ts=mention) == 200  # fmt: skip
    # Edits and deletions.
    assert await event("docs_message_changed.json") == 200  # edits docs_message
    assert await event("bolt_message_changed.json") == 200
    assert await event("bolt_message_deleted.json", previous_message={
        "type": "message", "text": "Hi there! Thanks for sharing the info!", "user": "W111",
        "team": TEAM_ID, "ts": user_message}, deleted_ts=user_message) == 200  # fmt: skip
    assert await event("docs_message_deleted.json", deleted_ts=bolt_message) == 200
    # A team member answers docs_message in its thread.
    assert await event("bolt_channel_thread_reply.json", user=ALICE, thread_ts=docs_message,
                       parent_user_id="U123ABC456") == 200  # fmt: skip
    # Non-speech: stores nothing.
    for name in ("bolt_bot_message_classic.json", "bolt_bot_message_modern.json",
                 "docs_bot_message.json", "docs_channel_join.json",
                 "docs_member_joined_channel.json", "bolt_member_joined_channel.json",
                 "bolt_reaction_added.json", "docs_message_replied.json"):  # fmt: skip
        assert await event(name) == 200
    assert await event("docs_message_replied.json", subtype=None) == 200
    assert await event("bolt_connect_channel_name.json", CONNECT) == 200
    # Interactivity, commands, verification.
    sent.add("bolt_block_actions.json")
    actions = a.body("bolt_block_actions.json", WATCHED)
    actions.pop("event")
    actions["response_url"] = slack.fake.response_url()
    assert await send(slack, urlencode({"payload": json.dumps(actions)}).encode()) == 200
    sent.add("bolt_slash_command.json")
    form = dict(parse_qsl(load("bolt_slash_command.json")["body"], keep_blank_values=True))
    form.update(team_id=TEAM_ID, channel_id=WATCHED, response_url=slack.fake.response_url())
    assert await send(slack, urlencode(form).encode()) == 200
    sent.add("docs_url_verification.json")
    challenge = load("docs_url_verification.json")
    response = await post(slack.http, challenge)
    assert response.status_code == 200 and challenge["challenge"] in response.text
    sent.add("sdk_signed_slash_command.json")
    signed = load("sdk_signed_slash_command.json")
    raw = signed["body"].encode()
    assert sign(raw, int(signed["timestamp"]), signed["signing_secret"]) == signed["signature"]
    replay = await slack.http.post("/slack/events", content=raw, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": signed["timestamp"],
        "X-Slack-Signature": signed["signature"]})  # fmt: skip
    assert replay.status_code == 401  # Slack's 2018 example: outside the five minutes
    fields = dict(parse_qsl(signed["body"], keep_blank_values=True))
    fields["response_url"] = slack.fake.response_url("sdk")
    assert await send(slack, urlencode(fields).encode()) == 200
    assert sent == set(names)

    messages = await stored(slack)
    customer = {mid for mid, m in messages.items() if not m.is_team}
    team = {mid for mid, m in messages.items() if m.is_team}
    w, c, u = WATCHED, CONNECT, UNWATCHED
    assert team == {f"{w}:{ts['1726133700.887259']}"}  # only Alice's thread reply
    assert messages[f"{w}:{ts['1726133700.887259']}"].person == "alice"
    assert customer == {
        f"{w}:{docs_message}", f"{w}:{bolt_message}", f"{w}:{user_message}",
        f"{w}:{ts['1652227646.593159']}",  # file share
        f"{w}:{ts['1633670813.007500']}",  # thread broadcast
        f"{u}:{ts['1595926230.009600']}", f"{u}:{ts['1515449522.000016']}",  # mentions
        f"{c}:{mention}", f"{c}:{ts['1678454365.204709']}", f"{c}:{ts['1678455198.838499']}",
        f"{c}:{follow_up}",
        f"{w}:{ts['1665102338.901939']}",  # bolt's edit of a message not seen otherwise
    }  # fmt: skip
    assert messages[f"{w}:{docs_message}"].text == "Hello, world!"
    assert messages[f"{w}:{ts['1665102338.901939']}"].text == "updated message"
    assert messages[f"{w}:{user_message}"].deleted and messages[f"{w}:{bolt_message}"].deleted
    assert messages[f"{w}:{ts['1652227646.593159']}"].text == "Hi there!"
    assert await waiting_threads(slack) == {
        f"{w}:{ts['1652227646.593159']}",
        f"{w}:{ts['1633663824.000500']}",  # the broadcast's thread
        f"{w}:{ts['1665102338.901939']}",
        f"{u}:{ts['1595926230.009600']}", f"{u}:{ts['1515449522.000016']}",
        f"{c}:{mention}",  # still waiting: the customer's own reply closed nothing
        f"{c}:{ts['1678454365.204709']}", f"{c}:{ts['1678455198.838499']}",
    }  # fmt: skip


@pytest.mark.parametrize(
    "name",
    ["bolt_connect_message.json", "bolt_connect_mention_message.json",
     "bolt_connect_app_mention.json"],
)  # fmt: skip
async def test_connect_customer_reply_never_closes_a_teams_wait(slack: Slack, name: str) -> None:
    """A wait opened by another customer in the shared channel; the connect customer's
    delivery, as a thread reply there, must not count as the team's answer."""
    a = Adapter(sorted({name, "bolt_connect_message.json"}))
    parent = slack_ts_at(NOW.timestamp() - 300)
    opener = a.body("bolt_connect_message.json", CONNECT, ts=parent, event_ts=parent)
    assert await send(slack, opener) == 200
    reply = slack_ts_at(NOW.timestamp() - 60)
    body = a.body(name, CONNECT, ts=reply, event_ts=reply, thread_ts=parent, type="message")
    assert await send(slack, body) == 200
    messages = await stored(slack)
    assert not messages[f"{CONNECT}:{reply}"].is_team
    assert await waiting_threads(slack) == {f"{CONNECT}:{parent}"}
