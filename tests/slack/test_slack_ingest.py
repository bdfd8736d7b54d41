"""Events through the real ASGI route, signed, into the real store."""

from __future__ import annotations

import json
import time
from typing import Any

from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from storage import dead_letters_repo
from storage.models import Conversation, Message
from tests.slack.conftest import Slack
from tests.slack.slack_payloads import (
    ALICE,
    BOB,
    CHANNEL,
    CUSTOMER,
    OTHER_TEAM,
    SECRET,
    envelope,
    message,
    post,
    sign,
)

T0 = "1795865400.000100"  # 11:30 UTC, half an hour before the test clock's now
T1 = "1795865700.000200"  # 11:35
T2 = "1795866000.000300"  # 11:40


async def messages(slack: Slack) -> list[Message]:
    async with slack.runtime.db.read() as session:
        return list((await session.scalars(select(Message).order_by(Message.at))).all())


async def conversations(slack: Slack) -> list[Conversation]:
    async with slack.runtime.db.read() as session:
        return list((await session.scalars(select(Conversation).order_by(Conversation.id))).all())


def test_signature_matches_slack_sdk() -> None:
    body = b'{"type":"event_callback"}'
    stamp = int(time.time())
    headers = {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": sign(body, stamp)}
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)


async def test_customer_message_is_stored_and_waiting(slack: Slack) -> None:
    response = await post(slack.http, message(T0, text="Hi! <@U0ALICE01> my order &amp; invoice?"))
    assert response.status_code == 200
    [stored] = await messages(slack)
    assert stored.message_id == f"{CHANNEL}:{T0}"
    assert stored.source == "acme" and not stored.is_team and stored.author_id == CUSTOMER
    assert stored.text == "Hi! @U0ALICE01 my order & invoice?"
    assert stored.author_name == "Dana"
    [waiting] = await slack.core.waiting()
    assert waiting.source == "acme" and waiting.channel == CHANNEL
    assert waiting.waiting_since.timestamp() == float(T0)
    assert waiting.responsible == ("alice",)
    link = f"https://acme-support.slack.com/archives/{CHANNEL}/p{T0.replace('.', '')}"
    assert waiting.url == link


async def test_team_reply_in_thread_answers(slack: Slack) -> None:
    await post(slack.http, message(T0))
    reply = message(T1, user=BOB, text="Shipped today!", thread_ts=T0)
    assert (await post(slack.http, reply)).status_code == 200
    assert await slack.core.waiting() == []
    [conversation] = await conversations(slack)
    assert conversation.thread == T0 and conversation.first_responder == "bob"
    stored = {m.message_id: m for m in await messages(slack)}
    assert stored[f"{CHANNEL}:{T1}"].person == "bob" and stored[f"{CHANNEL}:{T1}"].is_team


async def test_customer_follow_up_in_thread_keeps_waiting_since(slack: Slack) -> None:
    await post(slack.http, message(T0))
    await post(slack.http, message(T1, text="Hello??", thread_ts=T0))
    [waiting] = await slack.core.waiting()
    assert waiting.waiting_since.timestamp() == float(T0)
    assert len(await conversations(slack)) == 1


async def test_slack_connect_user_is_a_customer(slack: Slack) -> None:
    # partners has the default customers setting: only another workspace's people are customers
    outsider = message(T0, channel="C0PARTNER1", team=OTHER_TEAM, user="U0PARTNER9")
    colleague = message(T1, channel="C0PARTNER1", user="U0COLLEAG1", text="FYI: release today")
    await post(slack.http, outsider)
    await post(slack.http, colleague)
    stored = {m.message_id: m for m in await messages(slack)}
    assert not stored[f"C0PARTNER1:{T0}"].is_team  # user_team is not ours
    assert stored[f"C0PARTNER1:{T1}"].is_team  # same workspace, not in config: a colleague
    assert stored[f"C0PARTNER1:{T1}"].person is None
    [waiting] = await slack.core.waiting()
    assert waiting.source == "partners" and waiting.responsible == ("bob",)


async def test_message_changed_edits_text(slack: Slack) -> None:
    await post(slack.http, message(T0))
    edit = envelope("message_changed.json")
    assert (await post(slack.http, edit)).status_code == 200
    [stored] = await messages(slack)
    assert stored.text == "Hi! Where is my order #43, not #42?"
    assert stored.edited_at is not None and stored.edited_at.timestamp() == 1795865460.0


async def test_edit_arriving_before_the_message_wins(slack: Slack) -> None:
    await post(slack.http, envelope("message_changed.json"))
    await post(slack.http, message(T0, text="the original"))
    [stored] = await messages(slack)
    assert stored.text == "Hi! Where is my order #43, not #42?"


async def test_unfurl_message_changed_is_not_an_edit(slack: Slack) -> None:
    await post(slack.http, message(T0, text="see https://example.com"))
    unfurl = envelope("message_changed.json")
    unfurl["event"]["message"].pop("edited")
    unfurl["event"]["message"]["attachments"] = [
        {"title": "Example", "from_url": "https://example.com"}
    ]
    assert (await post(slack.http, unfurl)).status_code == 200
    [stored] = await messages(slack)
    assert stored.text == "see https://example.com" and stored.edited_at is None


async def test_message_deleted_ends_waiting(slack: Slack) -> None:
    await post(slack.http, message(T0))
    assert len(await slack.core.waiting()) == 1
    assert (await post(slack.http, envelope("message_deleted.json"))).status_code == 200
    assert await slack.core.waiting() == []
    [stored] = await messages(slack)
    assert stored.deleted


async def test_tombstoned_thread_parent_counts_as_deleted(slack: Slack) -> None:
    await post(slack.http, message(T0))
    tomb = envelope("message_changed.json")
    tomb["event"]["message"] = {
        "type": "message",
        "subtype": "tombstone",
        "text": "This message was deleted.",
        "user": "USLACKBOT",
        "hidden": True,
        "ts": T0,
        "thread_ts": T0,
        "reply_count": 1,
    }
    assert (await post(slack.http, tomb)).status_code == 200
    [stored] = await messages(slack)
    assert stored.deleted


async def test_bot_messages_and_joins_are_ignored(slack: Slack) -> None:
    assert (await post(slack.http, envelope("bot_message.json"))).status_code == 200
    join = message(
        T1, subtype="channel_join", text="<@U0NEW0001> has joined the channel", user="U0NEW0001"
    )
    assert (await post(slack.http, join)).status_code == 200
    own = message(T2, user="U0NUDGEBOT", bot_id="B0NUDGEBOT", text="— Alice via Nudgebot")
    assert (await post(slack.http, own)).status_code == 200
    assert await messages(slack) == []
    assert await conversations(slack) == []


async def test_file_share_with_text_and_without(slack: Slack) -> None:
    files = [{"id": "F0SCREEN1", "name": "error.png", "title": "error.png"}]
    shared = message(T0, subtype="file_share", text="It fails like this", files=files)
    await post(slack.http, shared)
    await post(slack.http, message(T1, subtype="file_share", text="", files=files))
    texts = [m.text for m in await messages(slack)]
    assert texts == ["It fails like this", "[file: error.png]"]


async def test_unwatched_channel_is_ignored_but_mentions_start_conversations(slack: Slack) -> None:
    await post(slack.http, message(T0, channel="C0RANDOM01", text="lunch?"))
    assert await messages(slack) == []
    mention = envelope("app_mention.json")
    assert (await post(slack.http, mention)).status_code == 200
    # Replies in the thread that mention started count; other threads there do not.
    team_reply = message(
        T2,
        user=ALICE,
        channel="C0SHARED77",
        thread_ts="1795865700.000500",
        text="Limits are 100/min",
    )
    other = message("1795866100.000400", user=ALICE, channel="C0SHARED77", thread_ts=T0)
    await post(slack.http, team_reply)
    await post(slack.http, other)
    stored = {m.message_id: m for m in await messages(slack)}
    assert set(stored) == {"C0SHARED77:1795865700.000500", f"C0SHARED77:{T2}"}
    assert stored["C0SHARED77:1795865700.000500"].source == "acme"
    assert stored["C0SHARED77:1795865700.000500"].text.startswith("@U0NUDGEBOT can someone")
    assert await slack.core.waiting() == []


async def test_mention_in_watched_channel_is_one_message(slack: Slack) -> None:
    mention = envelope("app_mention.json", channel=CHANNEL, ts=T0, event_ts=T0)
    await post(slack.http, message(T0, text="<@U0NUDGEBOT> help"))
    await post(slack.http, mention)
    assert len(await messages(slack)) == 1


async def test_slack_retries_store_one_message_one_conversation(slack: Slack) -> None:
    event = message(T0, event_id="Ev0RETRY001")
    for attempt in (None, 1, 2, 3):
        assert (await post(slack.http, event, retry=attempt)).status_code == 200
    assert len(await messages(slack)) == 1
    assert len(await conversations(slack)) == 1
    assert len(await slack.core.waiting()) == 1


async def test_retry_after_a_failed_store_succeeds(slack: Slack, monkeypatch: Any) -> None:
    batcher = slack.runtime.inbox.batcher
    real = batcher._commit
    calls = {"n": 0}

    async def flaky(batch: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("database went away")
        await real(batch)

    monkeypatch.setattr(batcher, "_commit", flaky)
    event = message(T0, event_id="Ev0FLAKY001")
    first = await post(slack.http, event)
    assert first.status_code == 503  # not acknowledged: Slack will retry
    assert (await post(slack.http, event, retry=1)).status_code == 200
    assert len(await messages(slack)) == 1


async def test_a_message_event_that_breaks_the_listener_is_kept_and_a_400(
    slack: Slack, monkeypatch: Any
) -> None:
    """Message events skip Bolt's dispatch (``SlackService._message_event``); a listener
    failure on them must still map as Bolt's error handler maps it."""

    def unreadable(*_args: Any, **_kwargs: Any) -> None:
        raise KeyError("blocks")  # what a payload of an unexpected shape raises

    monkeypatch.setattr("adapters.slack.listeners.translate", unreadable)
    event = message(T0, event_id="Ev0SHAPE001")
    response = await post(slack.http, event)
    assert response.status_code == 400
    assert (
        response.json()["error"] == "malformed body: unexpected payload shape (KeyError: 'blocks')"
    )
    letters = await dead_letters_repo.listing(slack.runtime.db)
    assert [(d.platform, json.loads(d.payload)) for d in letters] == [("slack", event)]
    assert await messages(slack) == []


async def test_a_database_failure_on_a_message_event_is_a_503_without_a_traceback(
    slack: Slack, monkeypatch: Any, caplog: Any
) -> None:
    async def down(_batch: Any) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(slack.runtime.inbox.batcher, "_commit", down)
    response = await post(slack.http, message(T0, event_id="Ev0DOWN0001"))
    assert response.status_code == 503
    assert response.json() == {"error": "temporarily unable to process; Slack will retry"}
    assert [r.getMessage() for r in caplog.records if r.name == "nudgebot.slack"] == [
        "Slack request not handled, Slack will retry: OSError('connection refused')"
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert await dead_letters_repo.listing(slack.runtime.db) == []


async def test_bad_signature_is_401_and_stores_nothing(slack: Slack) -> None:
    response = await post(slack.http, message(T0), secret="not-the-secret")
    assert response.status_code == 401
    assert response.json()["error"].startswith("invalid request")
    missing = await post(slack.http, message(T0), signature="v0=")
    assert missing.status_code == 401
    assert await messages(slack) == []


async def test_stale_timestamp_is_401_and_stores_nothing(slack: Slack) -> None:
    stale = int(time.time()) - 6 * 60
    response = await post(slack.http, message(T0), timestamp=stale)
    assert response.status_code == 401
    assert await messages(slack) == []


async def test_malformed_and_oversized_bodies(slack: Slack) -> None:
    garbage = await post(slack.http, b"payload=%7Bnot-json", retry=None)
    assert garbage.status_code == 400, garbage.text  # signed, so past the 401 check
    assert json.loads(garbage.text)["error"]
    big = await post(slack.http, b"x" * ((1 << 20) + 1))
    assert big.status_code == 413
    assert await messages(slack) == []


async def test_url_verification_challenge(slack: Slack) -> None:
    body = {
        "token": "x",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    response = await post(slack.http, body)
    assert response.status_code == 200
    assert response.json() == {"challenge": body["challenge"]}


async def test_reactions_are_actions_of_team_members(slack: Slack, monkeypatch: Any) -> None:
    acts: list[Any] = []

    async def act(request: Any) -> Any:
        acts.append(request)
        from bot.domain.ports import ActionResult

        return ActionResult(True, "ok")

    monkeypatch.setattr(slack.core, "act", act)
    await post(slack.http, message(T0))
    await post(slack.http, envelope("reaction_added.json"))
    claim = envelope("reaction_added.json", "Ev0REA00002", reaction="eyes", user=BOB)
    await post(slack.http, claim)
    stranger = envelope("reaction_added.json", "Ev0REA00003", user="U0STRANGE1")
    await post(slack.http, stranger)
    other = envelope("reaction_added.json", "Ev0REA00004", reaction="tada")
    await post(slack.http, other)
    await slack.settle()
    assert [(a.kind.value, a.person) for a in acts] == [("not_needed", "alice"), ("claim", "bob")]
    [conversation] = await conversations(slack)
    assert {a.conversation_id for a in acts} == {conversation.id}


async def test_reaction_names_come_from_the_source(slack: Slack, monkeypatch: Any) -> None:
    acts: list[Any] = []

    async def act(request: Any) -> Any:
        acts.append(request)
        from bot.domain.ports import ActionResult

        return ActionResult(True, "ok")

    monkeypatch.setattr(slack.core, "act", act)
    await post(slack.http, message(T0, channel="C0PARTNER1", team=OTHER_TEAM, user="U0PARTNER9"))
    item = {"type": "message", "channel": "C0PARTNER1", "ts": T0}
    names = ("white_check_mark", "heavy_check_mark", "raising_hand::skin-tone-2")
    for n, name in enumerate(names):
        reacted = envelope("reaction_added.json", f"Ev0R{n}", reaction=name, item=item)
        await post(slack.http, reacted)
    await slack.settle()
    assert [a.kind.value for a in acts] == ["not_needed", "claim"]
