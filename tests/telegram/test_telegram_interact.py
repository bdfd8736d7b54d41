"""Commands, buttons and reply-through: updates in through the real route, answers out
through the real PTB Bot to the fake Bot API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.domain.ports import NudgeView, Recipient, Step, TranscriptLine
from tests.fakes.telegram_api import BOT_ID
from tests.telegram.tg_kit import ALICE, BOB, DANA, GROUP, STRANGER, T0, Harness

MIN = timedelta(minutes=1)


async def _command(tg: Harness, user: int, text: str, chat_id: int | None = None) -> list[str]:
    """Send ``text`` and return what the bot answered in that chat."""
    where = user if chat_id is None else chat_id
    before = len(tg.fake.calls_to("sendMessage"))
    update = tg.updates.message(where, user, text, T0,
                                entities=[{"type": "bot_command", "offset": 0,
                                           "length": len(text.split()[0])}])  # fmt: skip
    assert (await tg.post(update)).status_code == 200
    await tg.service.idle()
    return [
        c.params["text"]
        for c in tg.fake.calls_to("sendMessage")[before:]
        if c.params["chat_id"] == where
    ]


async def _customer_waits(tg: Harness, text: str = "Where is my order?") -> int:
    await tg.post(tg.updates.message(GROUP, DANA, text, T0))
    [conversation] = await tg.conversations()
    return conversation.id


async def test_strangers_waiting_reveals_nothing(tg: Harness) -> None:
    await _customer_waits(tg, "Secret order for ACME-SECRET")
    for command in ("/waiting", "/mine", "/oncall", "/snooze 1 2h", "/help", "/waiting@" +
                    tg.fake.username):  # fmt: skip
        [answer] = await _command(tg, STRANGER, command)
        assert "only answer that for the team" in answer
        for secret in ("Dana", "ACME", "#1", "community", "alice", "Alice"):
            assert secret not in answer, (command, answer)
    assert [c.customer for c in await tg.core.waiting()] == ["Dana Kim"]
    assert len(await tg.stored()) == 1  # commands are not customer messages


async def test_a_strangers_start_is_neither_answered_nor_stored(tg: Harness) -> None:
    assert await _command(tg, STRANGER, "/start") == []
    assert await tg.stored() == []


async def test_whoami_tells_anyone_their_ids(tg: Harness) -> None:
    [answer] = await _command(tg, STRANGER, "/whoami")
    assert f"<code>{STRANGER}</code>" in answer
    assert "team" not in answer
    [answer] = await _command(tg, ALICE, "/whoami")
    assert f"<code>{ALICE}</code>" in answer and "<b>alice</b>" in answer
    # In a group: the chat id (what setup needs), never who is on the team.
    [answer] = await _command(tg, ALICE, f"/whoami@{tg.fake.username}", chat_id=GROUP)
    assert f"<code>{GROUP}</code>" in answer and "alice" not in answer


async def test_team_commands(tg: Harness) -> None:
    cid = await _customer_waits(tg)
    tg.clock.advance(20 * MIN)
    [waiting] = await _command(tg, ALICE, "/waiting")
    assert f"#{cid} <b>Dana Kim</b> in community · 20m" in waiting
    assert "Where is my order?" in waiting
    [mine] = await _command(tg, ALICE, "/mine")
    assert f"#{cid}" in mine  # alice owns the source
    [bobs] = await _command(tg, BOB, "/mine")
    assert "Nobody is waiting" in bobs
    [oncall] = await _command(tg, BOB, "/oncall")
    assert "No rotations" in oncall
    [helptext] = await _command(tg, BOB, "/help")
    assert "/waiting" in helptext and "/snooze" in helptext
    [usage] = await _command(tg, BOB, "/snooze soon")
    assert usage.startswith("Usage: /snooze")
    [unknown] = await _command(tg, BOB, f"/frobnicate@{tg.fake.username}")
    assert "don't know that command" in unknown


async def test_team_commands_stay_out_of_groups(tg: Harness) -> None:
    await _customer_waits(tg)
    assert await _command(tg, ALICE, "/waiting", chat_id=GROUP) == []
    assert len(await tg.stored()) == 1


def nudge_view(cid: int, recipient: int = ALICE, person: str = "alice") -> NudgeView:
    return NudgeView(
        nudge_id=3, conversation_id=cid, step=Step.FIRST,
        recipient=Recipient("telegram", str(recipient), person, "UTC"),
        source="community", platform="telegram", channel=str(GROUP), thread="101",
        customer="Dana Kim", waiting_since=T0, due_at=T0 + 15 * MIN, now=T0 + 15 * MIN,
        responsible=(person,), transcript=(TranscriptLine("Dana Kim", False, T0, "Where?"),),
        url="", can_reply=True,
    )  # fmt: skip


async def _nudge(tg: Harness, cid: int) -> dict[str, Any]:
    delivered = await tg.service.messenger.send_nudge(nudge_view(cid))
    chat_id, number = (int(x) for x in delivered.ref.split(":"))
    return tg.fake.messages[(chat_id, number)]


async def test_reply_through_posts_into_the_group_and_answers(tg: Harness) -> None:
    cid = await _customer_waits(tg)
    nudge = await _nudge(tg, cid)
    assert nudge["from"]["id"] == BOT_ID
    tg.clock.advance(20 * MIN)
    reply = tg.updates.message(ALICE, ALICE, "Shipped today <3 & tracked", T0 + 20 * MIN,
                               reply_to=nudge)  # fmt: skip
    assert (await tg.post(reply)).status_code == 200
    await tg.service.idle()
    into_group = [c.params for c in tg.fake.calls_to("sendMessage") if c.params["chat_id"] == GROUP]
    assert len(into_group) == 1
    posted = into_group[0]
    assert posted["text"] == "Shipped today &lt;3 &amp; tracked\n\n— Alice"
    assert posted["reply_parameters"]["message_id"] == 101  # the waiting message
    assert await tg.core.waiting() == []
    stored = await tg.stored()
    assert stored[-1][1:] == ("101", "Shipped today <3 & tracked", True)
    [conversation] = await tg.conversations()
    assert conversation.first_responder == "alice"
    confirm = [c.params["text"] for c in tg.fake.calls_to("sendMessage")
               if c.params["chat_id"] == ALICE][-1]  # fmt: skip
    assert confirm == "✅ Replied in the thread."


async def test_reply_through_works_after_the_buttons_are_gone(tg: Harness) -> None:
    """Once a nudge resolves its keyboard is removed; the "Conversation #N" line still tells
    which conversation a reply is for."""
    cid = await _customer_waits(tg)
    nudge = await _nudge(tg, cid)
    nudge.pop("reply_markup")
    tg.clock.advance(30 * MIN)
    reply = tg.updates.message(ALICE, ALICE, "One more thing", T0 + 30 * MIN, reply_to=nudge)
    await tg.post(reply)
    await tg.service.idle()
    assert [c for c in tg.fake.calls_to("sendMessage") if c.params["chat_id"] == GROUP]
    assert await tg.core.waiting() == []


async def test_replies_to_other_messages_are_not_passed_through(tg: Harness) -> None:
    cid = await _customer_waits(tg)
    nudge = await _nudge(tg, cid)
    forged = {**nudge, "from": {"id": STRANGER, "is_bot": False, "first_name": "M"}}
    await tg.post(tg.updates.message(ALICE, ALICE, "hi", T0, reply_to=forged))
    await tg.post(tg.updates.message(ALICE, ALICE, "just chatting", T0))
    await tg.service.idle()
    assert not [c for c in tg.fake.calls_to("sendMessage") if c.params["chat_id"] == GROUP]
    notes = [
        c.params["text"]
        for c in tg.fake.calls_to("sendMessage")
        if c.params["chat_id"] == ALICE and "Reply to one of my nudges" in c.params["text"]
    ]
    assert len(notes) == 2  # fmt: skip
    assert len(await tg.core.waiting()) == 1
    # A stranger replying to the bot in their own chat is a customer talking, nothing more.
    await tg.post(tg.updates.message(STRANGER, STRANGER, "hello", T0, reply_to=nudge))
    assert [w.source for w in await tg.core.waiting()] == ["community", "dms"]


async def test_every_button_press_is_answered(tg: Harness) -> None:
    cid = await _customer_waits(tg)
    nudge = await _nudge(tg, cid)
    presses = {
        "claim": tg.updates.callback(ALICE, f"nb:claim:3:{cid}", nudge),
        "junk": tg.updates.callback(ALICE, "garbage", nudge),
        "stranger": tg.updates.callback(STRANGER, f"nb:nn:3:{cid}", nudge),
    }
    for update in presses.values():
        await tg.post(update)
    await tg.service.idle()
    answers = {c.params["callback_query_id"]: c.params.get("text", "")
               for c in tg.fake.calls_to("answerCallbackQuery")}  # fmt: skip
    ids = {name: u["callback_query"]["id"] for name, u in presses.items()}
    assert len(answers) == 3
    assert answers[ids["claim"]] == "Claimed: it's yours."
    assert "no longer valid" in answers[ids["junk"]]
    assert "Only the team" in answers[ids["stranger"]]
