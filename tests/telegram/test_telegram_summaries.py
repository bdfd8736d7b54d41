"""A burst for one person on Telegram: one summary message (real PTB client, fake Bot API),
its buttons act on the conversations, and it is edited in place, never re-sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from storage.models import Conversation
from tests.fakes.telegram_api import check_html
from tests.telegram.tg_kit import ALICE, DANA, GROUP, T0, Harness

MIN = timedelta(minutes=1)
DUE = T0 + 15 * MIN


def sent_to(tg: Harness, chat_id: int) -> list[dict[str, Any]]:
    return [c.params for c in tg.fake.calls_to("sendMessage") if c.params["chat_id"] == chat_id]


def edits(tg: Harness) -> list[dict[str, Any]]:
    return [c.params for c in tg.fake.calls_to("editMessageText")]


def buttons(params: dict[str, Any]) -> list[str]:
    markup = params.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_a_burst_is_one_summary_with_working_buttons_edited_in_place(
    tg: Harness, monkeypatch: Any
) -> None:
    monkeypatch.setenv("NUDGEBOT_PUBLIC_URL", "https://nudge.example.com/")
    for topic in range(1, 7):  # six conversations, one forum topic each, due at once
        asked = tg.updates.message(GROUP, DANA, f"Order {topic} <b>?</b>", T0, topic=topic)
        assert (await tg.post(asked)).status_code == 200
    conversations = await tg.conversations()
    assert len(conversations) == 6
    await tg.tick(DUE)

    [summary] = sent_to(tg, ALICE)
    text = summary["text"]
    assert check_html(text)[0] is None  # what Telegram would parse: balanced, allowed tags
    assert "<b>6 waiting on you</b>" in text
    assert "<b>Dana Kim</b> in community (telegram)" in text
    assert "… and <b>1 more</b>" in text and "/mine" in text
    assert '<a href="https://nudge.example.com/?person=alice">the dashboard</a>' in text
    data = buttons(summary)
    assert len(data) == 15  # the five oldest, a row of three each
    claim = data[0]
    assert claim.startswith("nb:claim:") and claim.endswith(f":{conversations[0].id}")

    # Claim from the summary: the conversation is Alice's, and the summary is edited.
    held = tg.fake.messages[(ALICE, 1001)]
    assert (await tg.post(tg.updates.callback(ALICE, claim, held))).status_code == 200
    await tg.service.idle()
    async with tg.runtime.db.read() as session:
        claimed = await session.scalar(
            select(Conversation.claimed_by).where(Conversation.id == conversations[0].id)
        )
    assert claimed == "alice"
    await tg.tick(DUE + MIN)
    assert len(sent_to(tg, ALICE)) == 1
    [edit] = edits(tg)
    assert (edit["chat_id"], edit["message_id"]) == (ALICE, 1001)
    assert check_html(edit["text"])[0] is None
