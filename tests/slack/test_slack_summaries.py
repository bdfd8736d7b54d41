"""No floods, through the real app and the fake Slack Web API: a burst for one person is one
summary DM, updated in place; a reminder storm after an outage is one summary per person;
``max_messages_per_hour`` holds the rest back and the next summary says how many."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.slack.blocks import ACTION_CLAIM
from bot.config import Config, load_config
from bot.services.waiting import list_waiting
from storage.models import Conversation, Nudge
from storage.summaries_repo import BATCHED
from tests.slack.conftest import NOW, Slack
from tests.slack.slack_payloads import ALICE, BOB, CHANNEL, action_body, message, post

BETA = "C0BETA0001"
PUBLIC = "https://nudge.example.com"
CONFIG = """\
timezone: UTC
team:
  alice: {{name: Alice, slack: U0ALICE01, owner: true}}
  bob: {{name: Bob, slack: U0BOB0002}}
policies:
  standard: {{reply_within: 15m, remind_every: 30m}}
sources:
  acme: {{platform: slack, channels: [C0CUST001], owner: alice, policy: standard,
          customers: everyone-else}}
  beta: {{platform: slack, channels: [C0BETA0001], owner: bob, policy: standard,
          customers: everyone-else}}
nudges: {{batch_after: {batch_after}, batch_window: 2m, max_messages_per_hour: {per_hour}}}
"""
LIMITS: dict[str, int] = {"batch_after": 3, "per_hour": 12}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(CONFIG.format(**LIMITS), encoding="utf-8")
    return load_config(str(path))


@pytest.fixture(autouse=True)
def public_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NUDGEBOT_PUBLIC_URL", PUBLIC)
    yield


def ts(minutes_before_noon: float, extra: float = 0.0) -> str:
    """A Slack ts ``minutes_before_noon`` before NOW (12:00 UTC), plus ``extra`` seconds."""
    at = NOW - timedelta(minutes=minutes_before_noon) + timedelta(seconds=extra)
    return f"{Decimal(at.timestamp()).quantize(Decimal('0.000001'))}"


async def tick(slack: Slack) -> None:
    assert slack.runtime.engine is not None
    while (await slack.runtime.engine.tick()).more:
        pass


async def customers(slack: Slack, stamps: list[str], channel: str = CHANNEL) -> None:
    for n, stamp in enumerate(stamps):
        await post(slack.http, message(stamp, channel=channel, text=f"order {n} <b>&amp;"))
    await slack.settle()


def dms(slack: Slack, user: str) -> list[dict[str, Any]]:
    return slack.fake.posted(user)


def is_summary(dm: dict[str, Any]) -> bool:
    return bool(dm.get("metadata", {}).get("event_type") == "nudgebot_summary")


def text_of(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


def values(blocks: list[dict[str, Any]], action_id: str) -> list[str]:
    return [
        str(e["value"])
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id") == action_id
    ]


async def test_thirty_due_within_a_second_are_one_message_and_all_reachable(
    slack: Slack,
) -> None:
    # 30 customers between 11:44:59.9 and 11:45:00.8: due within one second of noon.
    await customers(slack, [ts(15, -0.1 + i * 0.03) for i in range(30)])
    slack.clock.advance(seconds=1)
    await tick(slack)

    got = dms(slack, ALICE)
    assert 1 <= len(got) <= 3, [is_summary(d) for d in got]
    summary = got[-1]
    assert is_summary(summary)
    blocks = summary["blocks"]
    assert "*30 waiting on you*" in blocks[0]["text"]["text"]
    # The rest are one click away: the dashboard filtered to Alice, or /waiting mine.
    rest = text_of(blocks[-1:])
    assert f"<{PUBLIC}/?person=alice|the dashboard>" in rest and "/waiting mine" in rest
    assert "25 more" in rest
    # `waiting --json --person alice` lists the same 30; the oldest five carry the buttons.
    rows = await list_waiting(
        slack.runtime.db, slack.runtime.routing, slack.clock.now(), person="alice"
    )
    assert len(rows) == 30
    claims = values(blocks, ACTION_CLAIM)
    assert [int(v.split(":")[0]) for v in claims] == [r.conversation for r in rows[:5]]
    async with slack.runtime.db.read() as session:
        batched = await session.scalar(
            select(func.count(func.distinct(Nudge.conversation_id))).where(Nudge.state == BATCHED)
        )
    assert batched == 30 - (len(got) - 1)  # every one not sent alone stands in the summary
    # Customer text is escaped in the summary as in nudges.
    assert "<b>" not in text_of(blocks)

    # A 31st falls due inside the window: the same message is edited, none is added.
    await customers(slack, [ts(14.5)])
    slack.clock.advance(seconds=30)
    await tick(slack)
    assert slack.fake.calls_to("chat.update") == []  # edits wait a moment, to gather changes
    slack.clock.advance(seconds=2)
    await tick(slack)
    assert len(dms(slack, ALICE)) == len(got)
    edits = [c.params for c in slack.fake.calls_to("chat.update")]
    channel, stamp = "D" + ALICE[1:], None
    for (ch, when), msg in slack.fake.messages.items():
        if ch == channel and msg.get("metadata", {}).get("event_type") == "nudgebot_summary":
            stamp = when
    assert edits and edits[-1]["ts"] == stamp
    assert "*31 waiting on you*" in edits[-1]["blocks"][0]["text"]["text"]

    # Claiming from the summary's button updates it in place too.
    first = claims[0]
    body = action_body(ACTION_CLAIM, first, user=BOB, response_url=slack.fake.response_url())
    assert (await post(slack.http, body)).status_code == 200
    await slack.settle()
    slack.clock.advance(seconds=2)
    await tick(slack)
    async with slack.runtime.db.read() as session:
        claimed = await session.get(Conversation, int(first.split(":")[0]))
    assert claimed is not None and claimed.claimed_by == "bob"
    last = slack.fake.calls_to("chat.update")[-1].params
    assert last["ts"] == stamp and "*30 waiting on you*" in last["blocks"][0]["text"]["text"]
    assert len(dms(slack, ALICE)) == len(got)


async def test_reminder_storm_after_two_hours_down_is_one_summary_per_person(
    slack: Slack,
) -> None:
    await customers(slack, [ts(15, -0.5), ts(15, -0.4)])
    await customers(slack, [ts(15, -0.3), ts(15, -0.2)], channel=BETA)
    slack.clock.advance(seconds=1)
    await tick(slack)
    before = {who: len(dms(slack, who)) for who in (ALICE, BOB)}
    assert before == {ALICE: 2, BOB: 2}  # two each: below batch_after, sent one by one
    assert not any(is_summary(d) for who in (ALICE, BOB) for d in dms(slack, who))

    slack.clock.advance(hours=2)  # the process was down; four reminder slots each went by
    await tick(slack)
    for who in (ALICE, BOB):
        after = dms(slack, who)[before[who] :]
        assert len(after) == 1 and is_summary(after[0]), who
        assert "Catching up: 2 waiting on you" in after[0]["blocks"][0]["text"]["text"]


@pytest.fixture
def capped() -> Iterator[None]:
    LIMITS.update(batch_after=100, per_hour=3)
    yield
    LIMITS.update(batch_after=3, per_hour=12)


@pytest.mark.usefixtures("capped")
async def test_max_messages_per_hour_holds_back_and_the_next_summary_says_so(
    slack: Slack,
) -> None:
    # Five conversations falling due five minutes apart: no burst, but five messages.
    await customers(slack, [ts(15 - 5 * i) for i in range(5)])
    for i in range(5):
        slack.clock.value = NOW + timedelta(minutes=5 * i, seconds=1)
        await tick(slack)
    got = dms(slack, ALICE)
    assert len(got) == 3 and not any(is_summary(d) for d in got)

    # Still within the hour: nothing new, though the 30m reminders of all five are due now.
    slack.clock.value = NOW + timedelta(minutes=59)
    await tick(slack)
    assert len(dms(slack, ALICE)) == 3

    slack.clock.value = NOW + timedelta(hours=1, seconds=2)
    await tick(slack)
    got = dms(slack, ALICE)
    assert len(got) == 4 and is_summary(got[-1])
    summary = text_of(got[-1]["blocks"])
    assert "2 nudge(s) were held back" in summary
    assert "5 waiting on you*" in summary
