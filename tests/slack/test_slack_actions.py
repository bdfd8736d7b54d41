"""Buttons, the reply modal, and the whole loop: customer message → DM at the due time →
team reply in the thread → the DM updated in place. The real nudge engine (``runtime.engine``)
plans and delivers through our messenger; its clock is the test's."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from adapters.slack.blocks import (
    ACTION_CLAIM,
    ACTION_NOT_NEEDED,
    ACTION_REPLY,
    ACTION_SNOOZE,
    REPLY_BLOCK,
    REPLY_CALLBACK,
)
from adapters.slack.views import REFUSAL
from storage.models import ActionRecord, Conversation, Message
from tests.slack.conftest import NOW, Slack
from tests.slack.slack_payloads import (
    ALICE,
    BOB,
    CHANNEL,
    STRANGER,
    action_body,
    message,
    post,
    submission_body,
)

T0 = "1795866299.900100"  # 11:44:59.9 UTC: due just before 12:00 (reply_within 15m)


async def conversation(slack: Slack) -> Conversation:
    async with slack.runtime.db.read() as session:
        [found] = (await session.scalars(select(Conversation))).all()
    return found


async def actions(slack: Slack) -> list[tuple[str, str]]:
    async with slack.runtime.db.read() as session:
        rows = (await session.scalars(select(ActionRecord).order_by(ActionRecord.id))).all()
    return [(r.kind, r.person) for r in rows]


async def tick(slack: Slack) -> None:
    assert slack.runtime.engine is not None
    while (await slack.runtime.engine.tick()).more:
        pass


async def nudge_sent(slack: Slack) -> dict[str, Any]:
    """Customer message at 11:45, clock at 12:00: the engine DMs Alice (acme's owner)."""
    await post(slack.http, message(T0))
    await tick(slack)
    [dm] = slack.fake.posted(ALICE)
    return dm


def value_of(dm: dict[str, Any], action_id: str) -> str:
    for element in dm["blocks"][-1]["elements"]:
        if element["action_id"] == action_id:
            return str(element.get("value") or element["options"][0]["value"])
    raise AssertionError(f"no {action_id} in the nudge")


async def click(
    slack: Slack, action_id: str, value: str, *, user: str = ALICE, selected: bool = False
) -> None:
    body = action_body(
        action_id, value, user=user, response_url=slack.fake.response_url(), selected=selected
    )
    response = await post(slack.http, body)
    assert response.status_code == 200 and response.text == ""
    await slack.settle()


async def test_customer_message_nudge_reply_in_thread_update(slack: Slack) -> None:
    await post(slack.http, message(T0))
    slack.clock.value = NOW - timedelta(minutes=1)  # 11:59: not due yet
    await tick(slack)
    assert slack.fake.posted(ALICE) == []
    slack.clock.value = NOW  # 12:00: due
    await tick(slack)
    [dm] = slack.fake.posted(ALICE)
    blocks = json.dumps(dm["blocks"])
    assert "is waiting for a reply in <#C0CUST001>" in blocks and "*15m*" in blocks
    assert "Where is my order?" in blocks and "Open thread" in blocks
    assert {ACTION_REPLY, ACTION_CLAIM, ACTION_SNOOZE, ACTION_NOT_NEEDED} <= {
        e["action_id"] for e in dm["blocks"][-1]["elements"]
    }
    # Bob answers in the thread at 12:05.
    slack.clock.advance(minutes=5)
    reply = message("1795867500.000200", user=BOB, text="On its way!", thread_ts=T0)
    assert (await post(slack.http, reply)).status_code == 200
    await tick(slack)
    [update] = slack.fake.calls_to("chat.update")
    [(channel, ts)] = [k for k, m in slack.fake.messages.items() if m.get("metadata")]
    assert (update.params["channel"], update.params["ts"]) == (channel, ts)
    assert "*Answered* by Bob after 20m" in update.params["blocks"][0]["text"]["text"]
    assert all(b["type"] != "actions" for b in update.params["blocks"])
    assert await slack.core.waiting() == []


async def test_slack_retries_give_one_nudge(slack: Slack) -> None:
    event = message(T0, event_id="Ev0ONCE0001")
    for attempt in (None, 1, 2, 3):
        await post(slack.http, event, retry=attempt)
    await tick(slack)
    await tick(slack)
    assert len(slack.fake.posted(ALICE)) == 1


async def test_claim_button(slack: Slack) -> None:
    dm = await nudge_sent(slack)
    await click(slack, ACTION_CLAIM, value_of(dm, ACTION_CLAIM), user=BOB)
    assert (await conversation(slack)).claimed_by == "bob"
    assert slack.fake.responses[-1]["text"].startswith("Claimed")
    assert slack.fake.responses[-1]["response_type"] == "ephemeral"
    await tick(slack)  # the nudge Alice got now says Bob has it
    [update] = slack.fake.calls_to("chat.update")
    assert "*Claimed* by Bob" in update.params["blocks"][0]["text"]["text"]


async def test_snooze_options(slack: Slack) -> None:
    dm = await nudge_sent(slack)
    cid_nid = value_of(dm, ACTION_CLAIM)
    await click(slack, ACTION_SNOOZE, f"{cid_nid}:2h", selected=True)
    assert (await conversation(slack)).snoozed_until == NOW + timedelta(hours=2)
    await click(slack, ACTION_SNOOZE, f"{cid_nid}:tomorrow", selected=True)
    # Alice is in Berlin: tomorrow 09:00 there is 08:00 UTC.
    assert (await conversation(slack)).snoozed_until == NOW.replace(hour=8) + timedelta(days=1)
    assert slack.fake.responses[-1]["text"].startswith("Snoozed until Sun 09:00")
    await click(slack, ACTION_SNOOZE, f"{cid_nid}:30m", selected=True)
    assert (await conversation(slack)).snoozed_until == NOW + timedelta(minutes=30)
    assert [kind for kind, _ in await actions(slack)] == ["snooze"] * 3


async def test_not_needed_button(slack: Slack) -> None:
    dm = await nudge_sent(slack)
    await click(slack, ACTION_NOT_NEEDED, value_of(dm, ACTION_NOT_NEEDED))
    assert await slack.core.waiting() == []
    assert await actions(slack) == [("not_needed", "alice")]
    await click(slack, ACTION_NOT_NEEDED, value_of(dm, ACTION_NOT_NEEDED))
    assert "Already marked as not needed" in slack.fake.responses[-1]["text"]


async def test_stranger_buttons_are_refused(slack: Slack) -> None:
    dm = await nudge_sent(slack)
    await click(slack, ACTION_CLAIM, value_of(dm, ACTION_CLAIM), user=STRANGER)
    await click(slack, ACTION_REPLY, value_of(dm, ACTION_REPLY), user=STRANGER)
    assert [r["text"] for r in slack.fake.responses] == [REFUSAL, REFUSAL]
    assert await actions(slack) == []
    assert slack.fake.calls_to("views.open") == []


async def test_reply_modal_posts_in_the_thread_as_the_person(slack: Slack) -> None:
    dm = await nudge_sent(slack)
    await click(slack, ACTION_REPLY, value_of(dm, ACTION_REPLY))
    [opened] = slack.fake.calls_to("views.open")
    modal = opened.params["view"]
    assert opened.params["trigger_id"].startswith("1795867200.")
    assert modal["callback_id"] == REPLY_CALLBACK
    assert "<#C0CUST001>" in json.dumps(modal["blocks"])
    response = await post(
        slack.http, submission_body("It ships today <3 & soon", modal["private_metadata"])
    )
    assert response.status_code == 200 and response.text == ""  # the modal closes
    await slack.settle()
    [posted] = slack.fake.posted(CHANNEL)
    assert posted["thread_ts"] == T0
    assert posted["text"] == "It ships today &lt;3 &amp; soon\n— Alice via Nudgebot"
    ts = next(ts for (ch, ts), m in slack.fake.messages.items() if ch == CHANNEL)
    async with slack.runtime.db.read() as session:
        query = select(Message).where(Message.message_id == f"{CHANNEL}:{ts}")
        stored = await session.scalar(query)
    assert stored is not None and stored.is_team and stored.person == "alice"
    assert stored.text == "It ships today <3 & soon"
    assert await slack.core.waiting() == []
    # Slack echoes our post as an event: it is our bot's own message, and changes nothing.
    echo = message(ts, user="U0NUDGEBOT", bot_id="B0NUDGEBOT", thread_ts=T0, text=posted["text"])
    assert (await post(slack.http, echo)).status_code == 200
    async with slack.runtime.db.read() as session:
        assert len((await session.scalars(select(Message))).all()) == 2
    await tick(slack)
    [update] = slack.fake.calls_to("chat.update")
    assert "*Answered* by Alice" in update.params["blocks"][0]["text"]["text"]


async def test_empty_reply_keeps_the_modal_open(slack: Slack) -> None:
    dm = await nudge_sent(slack)
    response = await post(slack.http, submission_body("   ", value_of(dm, ACTION_REPLY)))
    assert response.status_code == 200
    assert response.json() == {
        "response_action": "errors",
        "errors": {REPLY_BLOCK: "Write a reply first."},
    }
    stranger = await post(
        slack.http, submission_body("hi", value_of(dm, ACTION_REPLY), user=STRANGER)
    )
    assert stranger.json()["errors"] == {REPLY_BLOCK: REFUSAL}
    await slack.settle()
    assert slack.fake.posted(CHANNEL) == []


async def test_reply_that_cannot_be_posted_is_reported_to_the_person(slack: Slack) -> None:
    dm = await nudge_sent(slack)
    slack.fake.archived.add(CHANNEL)
    await post(slack.http, submission_body("hello", value_of(dm, ACTION_REPLY)))
    await slack.settle()
    [notice] = slack.fake.posted(ALICE)[1:]
    assert "Your reply was not sent" in notice["text"]
    assert len(await slack.core.waiting()) == 1
