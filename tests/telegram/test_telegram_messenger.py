"""The Messenger port with the real PTB Bot against the fake Bot API: HTML, keyboard, edits,
flood control."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
from telegram.ext import ExtBot

from adapters.telegram import actions
from adapters.telegram.messenger import TelegramMessenger
from adapters.telegram.ratelimit import ChatRateLimiter
from bot.domain.ports import (
    DeliveryError,
    NudgeUpdate,
    NudgeView,
    Outcome,
    Recipient,
    Step,
    TranscriptLine,
)
from tests.fakes.telegram_api import FakeTelegramAPI, check_html
from tests.telegram.tg_kit import ALICE, GROUP, T0

MIN = timedelta(minutes=1)


def view(**changes: object) -> NudgeView:
    base = NudgeView(
        nudge_id=7,
        conversation_id=42,
        step=Step.FIRST,
        recipient=Recipient("telegram", str(ALICE), "alice", "Europe/Berlin"),
        source="community",
        platform="telegram",
        channel=str(GROUP),
        thread="4411",
        customer="Dana <Kim> & Co",
        waiting_since=T0,
        due_at=T0 + 15 * MIN,
        now=T0 + 18 * MIN,
        responsible=("alice",),
        transcript=(
            TranscriptLine("Dana <Kim> & Co", False, T0, "Where is <b>my</b> order? 5 > 3 & co"),
            TranscriptLine("Dana <Kim> & Co", False, T0 + MIN, "hello??"),
        ),
        url="https://t.me/c/1234567890/4411?x=1&y=2",
        can_reply=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as api:
        yield api


def make_bot(fake: FakeTelegramAPI, limiter: ChatRateLimiter | None = None) -> ExtBot[int]:
    return ExtBot(fake.token, base_url=fake.base_url,
                  rate_limiter=limiter or ChatRateLimiter(chat_per_second=1000))  # fmt: skip


async def test_nudge_is_escaped_html_with_the_keyboard(fake: FakeTelegramAPI) -> None:
    async with make_bot(fake) as bot:
        delivered = await TelegramMessenger(bot).send_nudge(view())
    [call] = fake.calls_to("sendMessage")
    params = call.params
    assert params["chat_id"] == ALICE
    assert params["parse_mode"] == "HTML"
    text = params["text"]
    assert check_html(text)[0] is None
    assert "<b>Dana &lt;Kim&gt; &amp; Co</b> is waiting for a reply" in text
    assert "Where is &lt;b&gt;my&lt;/b&gt; order? 5 &gt; 3 &amp; co" in text
    assert "for <b>18m</b>" in text
    assert "since 11:00, due 11:15" in text  # Alice's zone: Europe/Berlin
    assert '<a href="https://t.me/c/1234567890/4411?x=1&amp;y=2">' in text
    assert "Reply to this message" in text
    assert "Conversation #42" in text
    rows = params["reply_markup"]["inline_keyboard"]
    data = [b["callback_data"] for row in rows for b in row]
    assert data == ["nb:claim:7:42", "nb:nn:7:42", "nb:s30m:7:42", "nb:s2h:7:42", "nb:stom:7:42"]
    labels = [b["text"] for row in rows for b in row]
    assert any("Claim" in label for label in labels)
    assert any("Not needed" in label for label in labels)
    assert delivered.ref == f"{ALICE}:1001"


async def test_update_edits_in_place_and_drops_the_keyboard_when_answered(
    fake: FakeTelegramAPI,
) -> None:
    async with make_bot(fake) as bot:
        messenger = TelegramMessenger(bot)
        delivered = await messenger.send_nudge(view())
        claimed = NudgeUpdate(Outcome.CLAIMED, "Bob", T0 + 19 * MIN)
        await messenger.update_nudge(delivered.ref, view(), claimed)
        await messenger.update_nudge(delivered.ref, view(), claimed)  # "not modified": fine
        answered = NudgeUpdate(Outcome.ANSWERED, "Bob", T0 + 20 * MIN, after_seconds=18 * 60)
        await messenger.update_nudge(delivered.ref, view(), answered)
    edits = fake.calls_to("editMessageText")
    assert len(edits) == 3
    first, _, last = (e.params for e in edits)
    assert first["text"].startswith("🙋 <b>Claimed</b> by Bob")
    assert "nb:claim" not in str(first["reply_markup"])
    assert "nb:s30m:7:42" in str(first["reply_markup"])
    assert last["text"].startswith("✅ <b>Answered</b> by Bob after 18m")
    assert "Reply to this message" not in last["text"]
    assert "reply_markup" not in last or not last["reply_markup"]
    assert (last["chat_id"], last["message_id"]) == (ALICE, 1001)


async def test_long_transcripts_are_trimmed_oldest_first(fake: FakeTelegramAPI) -> None:
    lines = tuple(
        TranscriptLine("Dana", False, T0 + i * MIN, f"message {i} " + "&<" * 400) for i in range(60)
    )
    async with make_bot(fake) as bot:
        await TelegramMessenger(bot).send_nudge(view(transcript=lines))
    [call] = fake.calls_to("sendMessage")  # the fake rejects > 4096 visible characters
    text = call.params["text"]
    assert "message 59" in text
    assert "message 0 " not in text


async def test_flood_control_retry_after_is_honoured(fake: FakeTelegramAPI) -> None:
    fake.fail_next(1, retry_after=1, methods={"sendMessage"})
    async with make_bot(fake) as bot:
        started = time.monotonic()
        delivered = await TelegramMessenger(bot).send_nudge(view())
        waited = time.monotonic() - started
    calls = fake.calls_to("sendMessage")
    assert len(calls) == 2  # refused once, then sent
    assert calls[1].at - calls[0].at >= 1.0
    assert waited >= 1.0
    assert delivered.ref == f"{ALICE}:1001"


async def test_flood_control_beyond_retries_is_a_delivery_error(fake: FakeTelegramAPI) -> None:
    fake.fail_next(5, retry_after=1, methods={"sendMessage"})
    async with make_bot(fake, ChatRateLimiter(chat_per_second=1000, max_retries=0)) as bot:
        with pytest.raises(DeliveryError) as caught:
            await TelegramMessenger(bot).send_nudge(view())
    assert caught.value.retry_after == 1
    assert not caught.value.permanent


async def test_blocked_bot_and_bad_chat_are_permanent(fake: FakeTelegramAPI) -> None:
    sends = {"sendMessage"}
    fake.fail_next(1, code=403, description="Forbidden: bot was blocked by the user", methods=sends)
    fake.fail_next(1, code=400, description="Bad Request: chat not found", methods=sends)
    async with make_bot(fake) as bot:
        messenger = TelegramMessenger(bot)
        for _ in range(2):
            with pytest.raises(DeliveryError) as caught:
                await messenger.send_nudge(view())
            assert caught.value.permanent
        with pytest.raises(DeliveryError) as caught:
            await messenger.send_nudge(view(recipient=Recipient("slack", "U1", "alice")))
        assert caught.value.permanent


async def test_per_chat_limit_spaces_messages_to_one_chat(fake: FakeTelegramAPI) -> None:
    async with make_bot(fake, ChatRateLimiter()) as bot:  # the production limits
        messenger = TelegramMessenger(bot)
        for _ in range(3):
            await messenger.send_text(Recipient("telegram", str(ALICE), "alice"), "**Hi** `x` <y>")
    calls = fake.calls_to("sendMessage")
    assert calls[0].params["text"] == "<b>Hi</b> <code>x</code> &lt;y&gt;"
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert all(gap >= 0.9 for gap in gaps), gaps


def test_callback_data_round_trips_within_64_bytes() -> None:
    biggest = 10**19 - 1
    for button in actions.Button:
        data = actions.encode(button, biggest, biggest)
        assert len(data.encode()) <= 64
        press = actions.decode(data)
        assert press is not None
        assert (press.button, press.nudge_id, press.conversation_id) == (button, biggest, biggest)
    for junk in (None, "", "nb:claim:1", "nb:zap:1:2", "xx:claim:1:2", "nb:claim:-1:2"):
        assert actions.decode(junk) is None


def test_tomorrow_is_nine_in_the_persons_zone() -> None:
    until = actions.snooze_until(actions.Button.SNOOZE_TOMORROW, T0 + 10 * 60 * MIN,
                                 "Europe/Berlin")  # fmt: skip
    assert until is not None
    assert until.isoformat() == "2026-11-29T09:00:00+01:00"
    assert actions.snooze_until(actions.Button.SNOOZE_2H, T0, "UTC") == T0 + 120 * MIN
    assert actions.snooze_until(actions.Button.CLAIM, T0, "UTC") is None


# --- render.py's limit through the real send_text (the pure render.py tests, whole messages
# compared exactly, are in test_telegram_render.py) -----------------------------------------


async def test_a_long_notice_is_cut_to_telegrams_4096_characters(fake: FakeTelegramAPI) -> None:
    async with make_bot(fake) as bot:
        await TelegramMessenger(bot).send_text(
            Recipient("telegram", str(ALICE), "alice"), "x" * 5000
        )
    [call] = fake.calls_to("sendMessage")
    assert call.params["text"] == "x" * 4096
