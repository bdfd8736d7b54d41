"""The whole loop with the nudge engine: a group message → a nudge in the team member's private
chat at the due time → a team reply → the nudge edited in place; reply-through; each button.

The scheduler is ticked by hand after moving the test clock, so every step is exact."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.telegram.tg_kit import ALICE, BOB, DANA, GROUP, STRANGER, T0, Harness, as_replied

MIN = timedelta(minutes=1)
DUE = T0 + 15 * MIN


def sent_to(tg: Harness, chat_id: int) -> list[dict[str, Any]]:
    return [c.params for c in tg.fake.calls_to("sendMessage") if c.params["chat_id"] == chat_id]


def edits(tg: Harness) -> list[dict[str, Any]]:
    return [c.params for c in tg.fake.calls_to("editMessageText")]


def buttons(params: dict[str, Any]) -> list[str]:
    markup = params.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def _waits(tg: Harness) -> tuple[dict[str, Any], int]:
    asked = tg.updates.message(GROUP, DANA, "Where is my order?", T0)
    assert (await tg.post(asked)).status_code == 200
    [conversation] = await tg.conversations()
    return asked, conversation.id


async def _nudged(tg: Harness) -> tuple[dict[str, Any], int, dict[str, Any]]:
    asked, cid = await _waits(tg)
    await tg.tick(DUE)
    [nudge] = sent_to(tg, ALICE)
    return asked, cid, nudge


async def test_group_message_nudge_team_reply_edit(tg: Harness) -> None:
    asked, cid = await _waits(tg)
    await tg.tick(DUE - MIN)
    assert sent_to(tg, ALICE) == []  # never before the due time
    await tg.tick(DUE)
    [nudge] = sent_to(tg, ALICE)
    assert nudge["parse_mode"] == "HTML"
    assert "<b>Dana Kim</b> is waiting for a reply" in nudge["text"]
    assert "Where is my order?" in nudge["text"]
    assert f"Conversation #{cid}" in nudge["text"]
    assert len(buttons(nudge)) == 5
    # Alice answers in the group with Telegram's reply.
    answer = tg.updates.message(GROUP, ALICE, "Shipped today", T0 + 20 * MIN,
                                reply_to=as_replied(asked))  # fmt: skip
    await tg.post(answer)
    await tg.tick(T0 + 20 * MIN)
    [edit] = edits(tg)
    assert (edit["chat_id"], edit["message_id"]) == (ALICE, 1001)
    assert edit["text"].startswith("✅ <b>Answered</b> by Alice after 20m")
    assert buttons(edit) == []
    await tg.tick(T0 + 3 * 60 * MIN)
    assert len(sent_to(tg, ALICE)) == 1 and len(edits(tg)) == 1  # nothing more


async def test_reply_through_from_the_nudge(tg: Harness) -> None:
    _, cid, _ = await _nudged(tg)
    held = tg.fake.messages[(ALICE, 1001)]  # the nudge as Telegram shows it in a reply
    tg.clock.at = T0 + 18 * MIN
    reply = tg.updates.message(ALICE, ALICE, "On its way & tracked <3", T0 + 18 * MIN,
                               reply_to=held)  # fmt: skip
    assert (await tg.post(reply)).status_code == 200
    await tg.service.idle()
    [posted] = sent_to(tg, GROUP)
    assert posted["text"] == "On its way &amp; tracked &lt;3\n\n— Alice"
    assert posted["reply_parameters"]["message_id"] == 101
    assert await tg.core.waiting() == []
    [conversation] = await tg.conversations()
    assert conversation.first_responder == "alice"
    assert sent_to(tg, ALICE)[-1]["text"] == "✅ Replied in the thread."
    await tg.tick()
    [edit] = edits(tg)
    assert edit["text"].startswith("✅ <b>Answered</b> by Alice after 18m")
    assert cid == conversation.id


@pytest.mark.parametrize(
    ("button", "answer", "status", "left"),
    [
        ("claim", "Claimed: it's yours.", "🙋 <b>Claimed</b> by Alice",
         ["nn", "s30m", "s2h", "stom"]),
        ("s30m", "Snoozed until Sat 11:46.", "⏰ <b>Snoozed</b> until 11:46 by Alice",
         ["claim", "nn", "s30m", "s2h", "stom"]),
        ("s2h", "Snoozed until Sat 13:16.", "⏰ <b>Snoozed</b> until 13:16 by Alice",
         ["claim", "nn", "s30m", "s2h", "stom"]),
        ("stom", "Snoozed until Sun 09:00.", "⏰ <b>Snoozed</b> until Sun 29 Nov 09:00 by Alice",
         ["claim", "nn", "s30m", "s2h", "stom"]),
        ("nn", "Marked as not needed: nobody will be nudged.", "✖ <b>Not needed</b> — Alice", []),
    ],
)  # fmt: skip
async def test_each_button(
    tg: Harness, button: str, answer: str, status: str, left: list[str]
) -> None:
    _, cid, nudge = await _nudged(tg)
    held = tg.fake.messages[(ALICE, 1001)]
    tg.clock.at = DUE + MIN
    press = tg.updates.callback(ALICE, f"nb:{button}:{_nudge_id(nudge)}:{cid}", held)
    await tg.post(press)
    await tg.service.idle()
    [answered] = tg.fake.calls_to("answerCallbackQuery")
    assert answered.params["callback_query_id"] == press["callback_query"]["id"]
    assert answered.params["text"] == answer  # Alice's zone: Europe/Berlin (UTC+1)
    await tg.tick()
    [edit] = edits(tg)
    assert edit["text"].startswith(status), edit["text"]
    assert [b.split(":")[1] for b in buttons(edit)] == left
    waiting = await tg.core.waiting()
    assert (waiting == []) == (button == "nn")


def _nudge_id(nudge: dict[str, Any]) -> int:
    return int(buttons(nudge)[0].split(":")[2])


async def test_a_redelivered_update_makes_one_nudge(tg: Harness) -> None:
    asked, _ = await _waits(tg)
    for _ in range(3):
        assert (await tg.post(asked)).status_code == 200
    again = {**asked, "update_id": asked["update_id"] + 1000}  # same message, new update id
    assert (await tg.post(again)).status_code == 200
    await tg.tick(DUE)
    await tg.tick(DUE + MIN)
    assert len(sent_to(tg, ALICE)) == 1
    assert len(await tg.stored()) == 1


async def test_snooze_command(tg: Harness) -> None:
    _, cid, _ = await _nudged(tg)
    update = tg.updates.message(ALICE, ALICE, f"/snooze #{cid} 2h", DUE)
    await tg.post(update)
    await tg.service.idle()
    assert sent_to(tg, ALICE)[-1]["text"] == "Snoozed until Sat 13:15."
    await tg.tick()
    [edit] = edits(tg)
    assert "Snoozed" in edit["text"]


async def test_private_chat_customer_is_nudged_to_the_sources_owner(tg: Harness) -> None:
    await tg.post(tg.updates.message(STRANGER, STRANGER, "Do you ship to Norway?", T0))
    await tg.tick(DUE)
    [nudge] = sent_to(tg, BOB)
    assert "in <b>dms</b>" in nudge["text"]
    assert "Do you ship to Norway?" in nudge["text"]
    held = tg.fake.messages[(BOB, 1001)]
    tg.clock.at = DUE + MIN
    await tg.post(tg.updates.message(BOB, BOB, "Yes, we do!", DUE + MIN, reply_to=held))
    await tg.service.idle()
    [posted] = sent_to(tg, STRANGER)
    assert posted["text"] == "Yes, we do!\n\n— Bob"
    assert posted["reply_parameters"]["message_id"] == 101
    assert await tg.core.waiting() == []
