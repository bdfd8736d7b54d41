"""Message events we cannot read are kept as dead letters and answered 400; events we ignore
on purpose stay a quiet 200. Through the real ASGI route, signed, into the real store."""

from __future__ import annotations

import json
from typing import Any

from storage import dead_letters_repo
from tests.slack.conftest import Slack
from tests.slack.slack_payloads import CHANNEL, envelope, message, post
from tests.slack.test_slack_ingest import T0, T1, messages

BAD_TS: tuple[Any, ...] = (1795865400.0001, "yesterday", "1795865400.000100x", None)


def changed(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``body`` with event fields replaced (None deletes one)."""
    for key, value in fields.items():
        if value is None:
            body["event"].pop(key, None)
        else:
            body["event"][key] = value
    return body


async def letters(slack: Slack) -> list[tuple[str, dict[str, Any]]]:
    """Oldest first (the listing is newest first)."""
    found = await dead_letters_repo.listing(slack.runtime.db)
    return [(d.platform, json.loads(d.payload)) for d in reversed(found)]


async def test_a_message_with_an_unreadable_ts_is_a_dead_letter_not_dropped(
    slack: Slack,
) -> None:
    sent = []
    for n, ts in enumerate(BAD_TS):
        event = changed(message(T0, event_id=f"Ev0BADTS{n:03}"), ts=ts, event_ts=ts)
        response = await post(slack.http, event)
        assert response.status_code == 400, (ts, response.text)
        assert response.json()["error"] == (
            "malformed body: unexpected payload shape (UnreadableEvent: unreadable 'ts')"
        )
        sent.append(("slack", event))
    assert await letters(slack) == sent
    assert await messages(slack) == []


async def test_an_app_mention_with_an_unreadable_ts_is_a_dead_letter(slack: Slack) -> None:
    mention = envelope("app_mention.json", ts=["1795865700.000500"])
    assert (await post(slack.http, mention)).status_code == 400
    assert await letters(slack) == [("slack", mention)]


async def test_a_reply_with_an_unreadable_thread_is_a_dead_letter_not_a_new_conversation(
    slack: Slack,
) -> None:
    await post(slack.http, message(T0))
    reply = message(T1, event_id="Ev0BADTHR01", thread_ts=17958654)
    response = await post(slack.http, reply)
    assert response.status_code == 400
    assert "unreadable 'thread_ts'" in response.json()["error"]
    assert await letters(slack) == [("slack", reply)]
    assert [m.message_id for m in await messages(slack)] == [f"{CHANNEL}:{T0}"]


async def test_an_edit_or_a_deletion_we_cannot_place_is_a_dead_letter(slack: Slack) -> None:
    edit = envelope("message_changed.json", "Ev0BADEDIT1")
    edit["event"]["message"]["edited"]["ts"] = "soon"
    no_message = envelope("message_changed.json", "Ev0BADEDIT2", message="gone")
    deletion = envelope("message_deleted.json", "Ev0BADDEL01", deleted_ts=3, ts="x")
    deletion["event"]["previous_message"]["ts"] = "x"
    for body in (edit, no_message, deletion):
        assert (await post(slack.http, body)).status_code == 400, body["event_id"]
    assert await letters(slack) == [("slack", edit), ("slack", no_message), ("slack", deletion)]


async def test_a_message_without_a_channel_is_a_dead_letter(slack: Slack) -> None:
    event = message(T0, event_id="Ev0NOCHAN01", channel=None)
    assert (await post(slack.http, event)).status_code == 400
    assert await letters(slack) == [("slack", event)]


async def test_events_ignored_on_purpose_stay_a_quiet_200_whatever_their_ts(slack: Slack) -> None:
    """Bots, subtypes we do not handle, events without a user, non-edits: not ours to read,
    so not dead letters either — however broken the fields we never look at."""
    bot = envelope("bot_message.json", "Ev0IGN00001", ts="x")
    join = changed(message(T0, event_id="Ev0IGN00002", subtype="channel_join"), ts="x")
    topic = changed(message(T0, event_id="Ev0IGN00003", subtype="channel_topic"), ts=None)
    no_user = changed(message(T0, event_id="Ev0IGN00004", user=None), ts="x", channel=None)
    own = changed(message(T0, event_id="Ev0IGN00005", bot_id="B0NUDGEBOT"), ts=5)
    unfurl = envelope("message_changed.json", "Ev0IGN00006")
    unfurl["event"]["message"].pop("edited")
    unfurl["event"]["message"]["ts"] = "x"
    bot_edit = envelope("message_changed.json", "Ev0IGN00007")
    bot_edit["event"]["message"].update(bot_id="B0OTHER01", ts="x")
    bot_gone = envelope("message_deleted.json", "Ev0IGN00008", deleted_ts="x")
    bot_gone["event"]["previous_message"].update(bot_id="B0OTHER01", ts="x")
    for body in (bot, join, topic, no_user, own, unfurl, bot_edit, bot_gone):
        response = await post(slack.http, body)
        assert response.status_code == 200, (body["event_id"], response.text)
    assert await letters(slack) == []
    assert await messages(slack) == []
