"""Nudges out through the real slack_sdk to the fake Web API: Block Kit, updates, limits."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from adapters.slack.blocks import ACTION_CLAIM, ACTION_NOT_NEEDED, ACTION_REPLY, ACTION_SNOOZE
from adapters.slack.messenger import SlackMessenger
from adapters.slack.pacing import ChannelPacer
from adapters.slack.service import SlackSettings, web_client
from bot.domain.ports import (
    DeliveryError,
    NudgeUpdate,
    NudgeView,
    Outcome,
    Recipient,
    Step,
    TranscriptLine,
)
from tests.fakes.slack_api import BOT_TOKEN, WORKSPACE_URL, FakeSlack
from tests.slack.conftest import NOW, Slack
from tests.slack.slack_payloads import ALICE, CHANNEL, CUSTOMER, SECRET

THREAD = "1795865400.000100"


def view(**changes: Any) -> NudgeView:
    base = NudgeView(
        nudge_id=7,
        conversation_id=3,
        step=Step.FIRST,
        recipient=Recipient("slack", ALICE, "alice", "Europe/Berlin"),
        source="acme",
        platform="slack",
        channel=CHANNEL,
        thread=THREAD,
        customer="Dana",
        waiting_since=NOW - timedelta(minutes=18),
        due_at=NOW - timedelta(minutes=3),
        now=NOW,
        responsible=("alice",),
        transcript=(
            TranscriptLine("Dana", False, NOW - timedelta(minutes=18), "Where is my order?"),
            TranscriptLine(
                "Dana", False, NOW - timedelta(minutes=2), "Hello?? <script> & *stars* " + "x" * 900
            ),
        ),
        url="https://stored.example/thread",
        can_reply=True,
    )
    return replace(base, **changes)


def messenger_of(slack: Slack) -> SlackMessenger:
    found = slack.component.messenger
    assert isinstance(found, SlackMessenger)
    return found


def texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


async def test_send_nudge_renders_block_kit(slack: Slack) -> None:
    delivered = await messenger_of(slack).send_nudge(view())
    [call] = slack.fake.calls_to("chat.postMessage")
    assert call.params["channel"] == ALICE
    [(channel, ts)] = slack.fake.messages
    assert delivered.ref == f"{channel}:{ts}" and channel == "D0ALICE01"  # the DM, not the user
    blocks = call.params["blocks"]
    head = blocks[0]["text"]["text"]
    assert "A customer" in head and f"<#{CHANNEL}>" in head and "*18m*" in head
    # The customer's name and words are literal text (plain_text, rich_text), never mrkdwn.
    assert blocks[1]["elements"][1] == {"type": "plain_text", "text": "Dana", "emoji": False}
    assert blocks[2]["type"] == "rich_text"
    words = [e["text"] for q in blocks[2]["elements"] for e in q["elements"] if "text" in e]
    transcript = "\n".join(words)
    assert "Where is my order?" in transcript
    assert "<script> &" in transcript and "&lt;" not in transcript  # literal: no entities
    assert "…" in transcript and len(transcript) < 3000  # the long line was trimmed
    assert "12:42" in transcript  # 11:42 UTC in Alice's Berlin time
    link = blocks[3]["elements"][0]["text"]
    permalink = f"{WORKSPACE_URL}archives/{CHANNEL}/p{THREAD.replace('.', '')}"
    assert f"<{permalink}|Open thread>" in link
    actions = blocks[4]
    assert actions["type"] == "actions"
    ids = [e["action_id"] for e in actions["elements"]]
    assert ids == [ACTION_REPLY, ACTION_CLAIM, ACTION_SNOOZE, ACTION_NOT_NEEDED]
    assert actions["elements"][0]["value"] == "3:7"
    assert [o["value"] for o in actions["elements"][2]["options"]] == [
        "3:7:30m",
        "3:7:2h",
        "3:7:tomorrow",
    ]
    assert call.params["text"].startswith("A customer is waiting in #C0CUST001")
    assert call.params["metadata"]["event_payload"] == {"nudge_id": 7, "conversation_id": 3}
    assert slack.fake.calls_to("chat.getPermalink")[0].params["message_ts"] == THREAD


async def test_escalation_to_a_channel_and_no_reply_button(slack: Slack) -> None:
    esc = view(
        step=Step.ESCALATION,
        recipient=Recipient("slack", "C0ESCALATE"),
        responsible=("alice", "bob"),
        can_reply=False,
        platform="telegram",
        channel="-1001234",
        source="community",
        customer=CUSTOMER,
    )
    delivered = await messenger_of(slack).send_nudge(esc)
    assert delivered.ref.startswith("C0ESCALATE:")
    [call] = slack.fake.calls_to("chat.postMessage")
    head = call.params["blocks"][0]["text"]["text"]
    assert "Escalation" in head and "Alice, Bob" in head and "community (telegram)" in head
    ids = [e["action_id"] for e in call.params["blocks"][-1]["elements"]]
    assert ACTION_REPLY not in ids
    assert slack.fake.calls_to("chat.getPermalink") == []  # not a Slack conversation


async def test_update_nudge_in_place(slack: Slack) -> None:
    messenger = messenger_of(slack)
    delivered = await messenger.send_nudge(view())
    answered = NudgeUpdate(Outcome.ANSWERED, "bob", NOW, after_seconds=18 * 60)
    await messenger.update_nudge(delivered.ref, view(), answered)
    [call] = slack.fake.calls_to("chat.update")
    channel, ts = delivered.ref.split(":")
    assert (call.params["channel"], call.params["ts"]) == (channel, ts)
    assert "*Answered* by Bob after 18m" in call.params["blocks"][0]["text"]["text"]
    assert all(b["type"] != "actions" for b in call.params["blocks"])
    stored = slack.fake.messages[(channel, ts)]
    assert stored["blocks"] == call.params["blocks"]


async def test_claimed_by_me_keeps_reply_and_snooze(slack: Slack) -> None:
    messenger = messenger_of(slack)
    delivered = await messenger.send_nudge(view())
    await messenger.update_nudge(delivered.ref, view(), NudgeUpdate(Outcome.CLAIMED, "alice", NOW))
    await messenger.update_nudge(
        delivered.ref,
        view(),
        NudgeUpdate(Outcome.SNOOZED, "alice", NOW, until=NOW + timedelta(hours=2)),
    )
    mine, snoozed = slack.fake.calls_to("chat.update")
    assert "You claimed this" in mine.params["blocks"][0]["text"]["text"]
    assert [e["action_id"] for e in mine.params["blocks"][-1]["elements"]] == [
        ACTION_REPLY,
        ACTION_SNOOZE,
        ACTION_NOT_NEEDED,
    ]
    assert "Snoozed* until 15:00" in snoozed.params["blocks"][0]["text"]["text"]


async def test_update_of_a_vanished_message_is_permanent(slack: Slack) -> None:
    with pytest.raises(DeliveryError) as caught:
        await messenger_of(slack).update_nudge(
            "D0ALICE01:1.000001", view(), NudgeUpdate(Outcome.ANSWERED, "bob", NOW)
        )
    assert caught.value.permanent


async def test_429_retry_after_is_honoured(slack: Slack) -> None:
    slack.fake.fail_next(1, 429, retry_after=1, methods=("chat.postMessage",))
    delivered = await messenger_of(slack).send_nudge(view())
    limited, ok = [c for c in slack.fake.calls if c.method == "chat.postMessage"]
    assert limited.status == 429 and ok.status == 200
    assert ok.at - limited.at >= 1.0
    assert delivered.ref.startswith("D0ALICE01:")


async def test_500_is_retried(slack: Slack) -> None:
    slack.fake.fail_next(2, 500, retry_after=None, methods=("chat.postMessage",))
    delivered = await messenger_of(slack).send_nudge(view())
    statuses = [c.status for c in slack.fake.calls if c.method == "chat.postMessage"]
    assert statuses == [500, 500, 200]
    assert delivered.ref


async def test_long_retry_after_goes_back_to_the_outbox(slack: Slack) -> None:
    slack.fake.fail_next(1, 429, retry_after=30, methods=("chat.postMessage",))
    with pytest.raises(DeliveryError) as caught:
        await messenger_of(slack).send_nudge(view())
    assert caught.value.retry_after == 30 and not caught.value.permanent
    assert len([c for c in slack.fake.calls if c.method == "chat.postMessage"]) == 1
    # ...and the pacer holds that channel, so the next try does not hammer Slack.
    with pytest.raises(DeliveryError) as again:
        await messenger_of(slack).send_text(Recipient("slack", ALICE), "hi")
    assert again.value.retry_after is not None


async def test_exhausted_500s_are_transient_errors(slack: Slack) -> None:
    slack.fake.fail_next(3, 500, retry_after=None, methods=("chat.postMessage",))
    with pytest.raises(DeliveryError) as caught:
        await messenger_of(slack).send_nudge(view())
    assert not caught.value.permanent and "500" in str(caught.value)


async def test_permanent_errors(slack: Slack) -> None:
    slack.fake.archived.add("C0ARCHIVED")
    with pytest.raises(DeliveryError) as archived:
        await messenger_of(slack).send_text(Recipient("slack", "C0ARCHIVED"), "hand-off")
    assert archived.value.permanent
    with pytest.raises(DeliveryError) as wrong:
        await messenger_of(slack).send_nudge(view(recipient=Recipient("telegram", "123")))
    assert wrong.value.permanent


async def test_send_text_converts_markdown(slack: Slack) -> None:
    text = "**Your turn** on call: see [the list](https://example.com/w?a=1&b=2) <3"
    delivered = await messenger_of(slack).send_text(Recipient("slack", ALICE, "alice"), text)
    [call] = slack.fake.calls_to("chat.postMessage")
    assert call.params["text"] == (
        "*Your turn* on call: see <https://example.com/w?a=1&amp;b=2|the list> &lt;3"
    )
    assert delivered.ref.startswith("D0ALICE01:")


async def test_unreachable_slack_is_transient(fake: FakeSlack) -> None:
    settings = SlackSettings(BOT_TOKEN, SECRET, api_url="http://127.0.0.1:9/api/")
    messenger = SlackMessenger(web_client(settings), ChannelPacer(0.0), str)
    with pytest.raises(DeliveryError) as caught:
        await messenger.send_text(Recipient("slack", ALICE), "hi")
    assert not caught.value.permanent


async def test_pacing_one_channel_and_parallel_channels(fake: FakeSlack) -> None:
    fake.limit_per_channel(0.2)
    settings = SlackSettings(BOT_TOKEN, SECRET, api_url=fake.api_url)
    messenger = SlackMessenger(web_client(settings), ChannelPacer(0.2), str)
    sends = [
        messenger.send_text(Recipient("slack", user), f"n{i}")
        for i in range(4)
        for user in ("U0A", "U0B")
    ]
    await asyncio.gather(*sends)
    assert fake.rate_limited == 0
    for user in ("U0A", "U0B"):
        times = [c.at for c in fake.calls_to("chat.postMessage") if c.params["channel"] == user]
        assert len(times) == 4
        assert all(b - a >= 0.2 for a, b in itertools.pairwise(times))
    everything = sorted(c.at for c in fake.calls_to("chat.postMessage"))
    assert everything[-1] - everything[0] < 0.2 * 4  # the two channels went in parallel


async def test_a_full_queue_hands_back_to_the_outbox(fake: FakeSlack) -> None:
    settings = SlackSettings(BOT_TOKEN, SECRET, api_url=fake.api_url)
    pacer = ChannelPacer(0.05, max_queue=3)
    messenger = SlackMessenger(web_client(settings), pacer, str)
    results = await asyncio.gather(
        *(messenger.send_text(Recipient("slack", ALICE), str(i)) for i in range(6)),
        return_exceptions=True,
    )
    busy = [r for r in results if isinstance(r, DeliveryError)]
    assert len(busy) == 3 and all(r.retry_after and r.retry_after > 0 for r in busy)
    assert len(fake.calls_to("chat.postMessage")) == 3
