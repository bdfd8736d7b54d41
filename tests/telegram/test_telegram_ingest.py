"""Updates through the real ASGI route and PTB Application into the real database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from storage import dead_letters_repo
from tests.telegram.tg_kit import (
    ALICE,
    BASIC_GROUP,
    DANA,
    EVE,
    GROUP,
    PUBLIC_URL,
    SECRET,
    STRANGER,
    T0,
    UNWATCHED,
    Harness,
    as_replied,
    harness,
    payload,
)

MIN = timedelta(minutes=1)


async def test_start_sets_webhook_with_secret_and_commands(tg: Harness) -> None:
    assert tg.telegram.component.ready()
    hook = tg.fake.webhook
    assert hook is not None
    assert hook["url"] == f"{PUBLIC_URL}/telegram/webhook"
    assert hook["secret_token"] == SECRET
    assert set(hook["allowed_updates"]) >= {"message", "edited_message", "callback_query",
                                            "my_chat_member"}  # fmt: skip
    scopes = {c.params["scope"]["type"]: c.params["commands"] for c in
              tg.fake.calls_to("setMyCommands")}  # fmt: skip
    assert {c["command"] for c in scopes["all_private_chats"]} == {
        "waiting", "mine", "oncall", "snooze", "help", "whoami"}  # fmt: skip
    assert [c["command"] for c in scopes["all_group_chats"]] == ["whoami"]


async def test_group_message_is_stored_and_waiting(tg: Harness) -> None:
    response = await tg.post(payload("supergroup_message"))
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True}
    stored = await tg.stored()
    assert stored == [
        (f"{GROUP}:4411", "4411",
         "Hi, my order #1187 still hasn't shipped. Any news? <urgent> & thanks", False),
    ]  # fmt: skip
    [item] = await tg.core.waiting()
    assert item.source == "community"
    assert item.platform == "telegram"
    assert item.channel == str(GROUP)
    assert item.customer == "Dana Kim"
    assert item.waiting_since == T0
    assert item.due_at == T0 + timedelta(minutes=15)
    assert item.url == "https://t.me/c/1234567890/4411"


async def test_team_reply_in_the_group_answers(tg: Harness) -> None:
    asked = tg.updates.message(GROUP, DANA, "Where is my order?", T0)
    await tg.post(asked)
    assert len(await tg.core.waiting()) == 1
    answer = tg.updates.message(GROUP, ALICE, "Shipped today!", T0 + 20 * MIN,
                                reply_to=as_replied(asked))  # fmt: skip
    assert (await tg.post(answer)).status_code == 200
    assert await tg.core.waiting() == []
    stored = await tg.stored()
    assert [(thread, team) for _, thread, _, team in stored] == [("101", False), ("101", True)]
    [conversation] = await tg.conversations()
    assert conversation.first_responder == "alice"


async def test_team_plain_message_answers_the_latest_customer_conversation(tg: Harness) -> None:
    await tg.post(tg.updates.message(GROUP, DANA, "Hello? Anyone?", T0))
    await tg.post(tg.updates.message(GROUP, ALICE, "Hi Dana, looking into it", T0 + 30 * MIN))
    assert await tg.core.waiting() == []
    assert len(await tg.conversations()) == 1


async def test_team_message_with_no_customer_around_is_a_broadcast(tg: Harness) -> None:
    await tg.post(tg.updates.message(GROUP, ALICE, "We're closed on Friday", T0))
    await tg.post(tg.updates.message(GROUP, DANA, "Noted, thanks", T0 + 25 * 60 * MIN))
    conversations = await tg.conversations()
    assert len(conversations) == 2  # the customer's later message starts its own
    assert len(await tg.core.waiting()) == 1


async def test_consecutive_customer_messages_within_ten_minutes_join(tg: Harness) -> None:
    await tg.post(tg.updates.message(GROUP, DANA, "Hi", T0))
    await tg.post(tg.updates.message(GROUP, EVE, "Is the API down?", T0 + 1 * MIN))
    await tg.post(tg.updates.message(GROUP, DANA, "my order is late", T0 + 2 * MIN))
    await tg.post(tg.updates.message(GROUP, DANA, "it's #1187", T0 + 11 * MIN))  # 9 min gap
    await tg.post(tg.updates.message(GROUP, DANA, "hello??", T0 + 22 * MIN))  # 11 min gap
    threads = [(m.split(":")[1], thread) for m, thread, _, _ in await tg.stored()]
    assert threads == [("101", "101"), ("102", "102"), ("103", "101"), ("104", "101"),
                       ("105", "105")]  # fmt: skip
    waiting = await tg.core.waiting()
    assert [w.customer for w in waiting] == ["Dana Kim", "Eve", "Dana Kim"]
    assert waiting[0].waiting_since == T0  # follow-ups do not move it


async def test_a_customers_reply_joins_the_replied_conversation(tg: Harness) -> None:
    first = tg.updates.message(GROUP, DANA, "Order question", T0)
    await tg.post(first)
    answer = tg.updates.message(GROUP, ALICE, "Which order?", T0 + 20 * MIN,
                                reply_to=as_replied(first))  # fmt: skip
    await tg.post(answer)
    later = tg.updates.message(GROUP, DANA, "#1187", T0 + 3 * 60 * MIN,
                               reply_to=as_replied(answer))  # fmt: skip
    await tg.post(later)
    assert {thread for _, thread, _, _ in await tg.stored()} == {"101"}
    [item] = await tg.core.waiting()
    assert item.waiting_since == T0 + 3 * 60 * MIN


async def test_private_chat_is_one_conversation_until_answered(tg: Harness) -> None:
    await tg.post(tg.updates.message(STRANGER, STRANGER, "Hello, I have a question", T0))
    await tg.post(tg.updates.message(STRANGER, STRANGER, "about pricing", T0 + 3 * 60 * MIN))
    [item] = await tg.core.waiting()
    assert item.source == "dms"
    assert item.channel == str(STRANGER)
    assert item.url == ""  # Telegram offers no links into private chats
    assert item.waiting_since == T0
    assert len(await tg.conversations()) == 1


async def test_private_chat_after_an_answer(tg: Harness) -> None:
    """A ``thanks`` right after the answer closes nothing new; a question a day later starts
    a new conversation."""
    await tg.post(tg.updates.message(STRANGER, STRANGER, "Do you ship to Norway?", T0))
    [conversation] = await tg.conversations()
    await _team_answer(tg, conversation.id, "Yes, we do", T0 + 20 * MIN)
    assert await tg.core.waiting() == []
    await tg.post(tg.updates.message(STRANGER, STRANGER, "thanks!", T0 + 25 * MIN))
    assert await tg.core.waiting() == []
    assert len(await tg.conversations()) == 1
    await tg.post(tg.updates.message(STRANGER, STRANGER, "Another question", T0 + 24 * 60 * MIN))
    assert len(await tg.conversations()) == 2
    assert len(await tg.core.waiting()) == 1


async def _team_answer(tg: Harness, conversation_id: int, text: str, at: object) -> None:
    """What reply-through stores: a team message in the conversation (the bot's own messages
    never come back as updates)."""
    from bot.domain.events import Author, InboundMessage

    ref = await tg.core.conversation_ref(conversation_id)
    assert ref is not None
    source, platform, channel, thread = ref.source, ref.platform, ref.channel, ref.thread
    await tg.core.ingest([InboundMessage(
        source=source, platform=platform, message_id=f"{channel}:9001", thread=thread,
        channel=channel, at=at, author=Author(str(ALICE), "Alice"), is_team=True,  # type: ignore[arg-type]
        person="alice", text=text,
    )])  # fmt: skip


async def test_wrong_or_missing_secret_is_rejected_and_nothing_stored(tg: Harness) -> None:
    update = payload("supergroup_message")
    for secret in (None, "", "wrong", SECRET + "x", SECRET.upper()):
        response = await tg.post(update, secret=secret)
        assert response.status_code == 401, secret
        assert "error" in response.json()
    assert await tg.stored() == []
    assert await tg.core.waiting() == []


def near_misses(secret: str) -> list[str]:
    """Every proper prefix, every one-character change, deletion and insertion of ``secret``."""
    tries = [secret[:n] for n in range(len(secret))]
    for i, char in enumerate(secret):
        other = "A" if char != "A" else "B"
        tries.append(secret[:i] + other + secret[i + 1 :])
        tries.append(secret[:i] + secret[i + 1 :])
        tries.append(secret[:i] + other + secret[i:])
    return tries


async def test_every_near_miss_of_the_secret_is_rejected(tg: Harness) -> None:
    """A prefix ("t"), a suffix match or a comparison that stops early must not pass."""
    update = payload("supergroup_message")
    tries = near_misses(SECRET)
    assert "t" in tries and SECRET[:-1] in tries and SECRET not in tries
    for secret in tries:
        response = await tg.post(update, secret=secret)
        assert response.status_code == 401, secret
    assert await tg.stored() == []
    assert (await tg.post(update)).status_code == 200
    assert len(await tg.stored()) == 1


async def test_bad_bodies_get_a_4xx_and_change_nothing(tg: Harness) -> None:
    cases = {
        b"{not json": 400,
        b"[]": 400,
        b'{"message": {}}': 400,  # no update_id
        b'{"update_id": "7"}': 400,
        b"\xff\xfe": 400,
        b'{"update_id": 1, "x": ' * 5000 + b"1" + b"}" * 5000: 400,
    }
    for body, status in cases.items():
        response = await tg.post(body)
        assert response.status_code == status, (body[:40], response.text)
        assert list(response.json()) == ["error"]
    huge = json.dumps({"update_id": 1, "pad": "x" * (1024 * 1024)}).encode()
    assert (await tg.post(huge)).status_code == 413
    assert await tg.stored() == []
    # The secret was right: what was sent is kept for a person to look at.
    kept = {letter.payload for letter in await dead_letters_repo.listing(tg.runtime.db)}
    assert kept == set(cases)


async def test_updates_ptb_cannot_read_are_acknowledged_and_kept(tg: Harness) -> None:
    unreadable = [
        b'{"update_id": 7, "message": {"message_id": "x"}}',
        b'{"update_id": 8, "message": "hello"}',
    ]
    for body in unreadable:
        response = await tg.post(body)
        assert response.status_code == 200, response.text  # Telegram's queue moves on
    assert await tg.stored() == []
    letters = await dead_letters_repo.listing(tg.runtime.db)
    assert sorted(letter.payload for letter in letters) == sorted(unreadable)
    assert all(letter.platform == "telegram" for letter in letters)
    assert all("python-telegram-bot cannot read" in letter.reason for letter in letters)
    # Telegram redelivering one (say our 200 was lost) counts up, adds no row.
    assert (await tg.post(unreadable[0])).status_code == 200
    again = await dead_letters_repo.listing(tg.runtime.db)
    assert len(again) == 2
    assert {letter.payload: letter.deliveries for letter in again}[unreadable[0]] == 2


async def test_bad_bodies_say_what_is_wrong(tg: Harness) -> None:
    """The 400's message names the problem (a client can fix it from the answer alone).

    Only a body that is no update at all is a 400: an object with an integer ``update_id``
    that python-telegram-bot cannot read (``{"update_id": 7, "message": "hello"}``) is
    acknowledged and kept as a dead letter, so Telegram's queue moves on
    (test_updates_ptb_cannot_read_are_acknowledged_and_kept)."""
    not_an_update = "not a Telegram update: expected an object with an integer update_id"
    expected = {
        b"{not json": "body is not valid JSON",
        b'{"update_id": "7"}': not_an_update,
        b"[]": not_an_update,
        b'{"update_id": 1, "x": ' * 5000 + b"1" + b"}" * 5000: "body is nested too deeply",
    }
    for body, message in expected.items():
        response = await tg.post(body)
        assert response.status_code == 400, (body[:40], response.text)
        error = response.json()["error"]
        assert error.startswith(message), (body[:40], error)


async def test_unknown_update_kinds_are_accepted_and_ignored(tg: Harness) -> None:
    channel = {"id": -1001111111111, "title": "Acme news", "type": "channel"}
    post = {"message_id": 9, "sender_chat": channel, "chat": channel, "date": 1795860000,
            "text": "New release!"}  # fmt: skip
    for update in ({"update_id": 5, "channel_post": post},
                   {"update_id": 6, "message": post}):  # fmt: skip
        assert (await tg.post(update)).status_code == 200
    assert await tg.stored() == []


async def test_a_redelivered_update_stores_one_message(tg: Harness) -> None:
    update = payload("supergroup_message")
    for _ in range(3):
        assert (await tg.post(update)).status_code == 200
    # The same message under a new update_id (another replica, a restart) changes nothing.
    again = {**update, "update_id": update["update_id"] + 100}
    assert (await tg.post(again)).status_code == 200
    assert len(await tg.stored()) == 1
    assert len(await tg.conversations()) == 1


async def test_edits_update_the_text_in_place(tg: Harness) -> None:
    original = tg.updates.message(GROUP, DANA, "Order 1178 is late", T0)
    await tg.post(original)
    await tg.post(tg.updates.edit(original, "Order 1187 is late (typo)", T0 + 2 * MIN))
    [(mid, thread, text, _)] = await tg.stored()
    assert (mid, thread, text) == (f"{GROUP}:101", "101", "Order 1187 is late (typo)")
    [item] = await tg.core.waiting()
    assert item.waiting_since == T0


async def test_forum_topics_are_channels_of_their_own(tg: Harness) -> None:
    await tg.post(payload("forum_topic_message"))
    [item] = await tg.core.waiting()
    assert item.channel == f"{GROUP}/77"
    assert item.url == "https://t.me/c/1234567890/77/4412"
    # The topic-creation message is not a "reply": the thread is the message itself.
    assert [thread for _, thread, _, _ in await tg.stored()] == ["4412"]


async def test_service_messages_bots_and_unwatched_chats_are_ignored(tg: Harness) -> None:
    await tg.post(payload("new_chat_members"))
    await tg.post(payload("my_chat_member"))
    bot_message = tg.updates.message(GROUP, DANA, "beep", T0)
    bot_message["message"]["from"] = {"id": 42, "is_bot": True, "first_name": "OtherBot"}
    await tg.post(bot_message)
    await tg.post(tg.updates.message(UNWATCHED, DANA, "Hi", T0))
    await tg.post(tg.updates.message(GROUP, DANA, "/start@other_bot", T0))
    assert await tg.stored() == []


async def test_basic_groups_and_media_are_stored(tg: Harness) -> None:
    photo = tg.updates.message(BASIC_GROUP, DANA, "", T0)
    del photo["message"]["text"]
    photo["message"]["photo"] = [{"file_id": "AgAD", "file_unique_id": "u1", "width": 90,
                                  "height": 90}]  # fmt: skip
    await tg.post(photo)
    await tg.post(tg.updates.message(GROUP, DANA, "/refund please, it broke", T0))
    stored = await tg.stored()
    assert [text for _, _, text, _ in stored] == ["[photo]", "/refund please, it broke"]
    [basic] = [w for w in await tg.core.waiting() if w.channel == str(BASIC_GROUP)]
    assert basic.url == ""  # basic groups have no message links


async def test_a_concurrent_burst_is_threaded_as_if_sequential(tg: Harness) -> None:
    """Updates stored in one batch (group commit) still see each other."""
    import asyncio

    burst = [tg.updates.message(GROUP, DANA if i % 3 else EVE, f"part {i}", T0 + i * MIN)
             for i in range(24)]  # fmt: skip
    responses = await asyncio.gather(*(tg.post(u) for u in reversed(burst)))
    assert {r.status_code for r in responses} == {200}
    assert len(await tg.stored()) == 24
    # Dana writes every 1-2 minutes, Eve every 3: one conversation each.
    assert sorted(c.customer_name for c in await tg.conversations()) == ["Dana Kim", "Eve"]


async def test_text_no_database_can_store_is_cleaned(tg: Harness) -> None:
    body = json.dumps(tg.updates.message(GROUP, DANA, "nul\u0000 and \ud800 lone", T0))
    assert (await tg.post(body.encode())).status_code == 200
    [(_, _, text, _)] = await tg.stored()
    assert text == "nul and ? lone"


def fail_once(monkeypatch: pytest.MonkeyPatch, target: object, method: str) -> None:
    """``target.method`` fails its first call as a database that is away, then works."""
    real = getattr(target, method)
    calls = 0

    async def flaky(arg: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OperationalError("INSERT …", {}, ConnectionRefusedError("database is away"))
        await real(arg)

    monkeypatch.setattr(target, method, flaky)


async def test_database_away_is_503_and_the_redelivery_is_stored(
    tg: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_once(monkeypatch, tg.core, "ingest")
    update = payload("supergroup_message")
    response = await tg.post(update)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert await tg.stored() == []
    assert (await tg.post(update)).status_code == 200  # Telegram's redelivery
    assert len(await tg.stored()) == 1


async def test_a_bad_body_that_cannot_be_kept_yet_is_503_and_its_redelivery_is_kept(
    tg: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body that is no update is kept as a dead letter before the 400; with the database
    away it cannot be, so the answer is 503 (Telegram redelivers), not 400 (it would not)."""
    fail_once(monkeypatch, tg.core, "keep_dead_letter")
    response = await tg.post(b"{not json")
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert await dead_letters_repo.listing(tg.runtime.db) == []
    assert (await tg.post(b"{not json")).status_code == 400  # the redelivery
    assert [d.payload for d in await dead_letters_repo.listing(tg.runtime.db)] == [b"{not json"]


async def test_a_bug_while_storing_is_logged_and_answered_200(
    tg: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(messages: Any) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(tg.core, "ingest", broken)
    response = await tg.post(payload("supergroup_message"))
    assert response.status_code == 200  # redelivering would fail the same way, forever
    assert "could not be stored" in caplog.text


async def test_an_update_before_the_adapter_started_is_503_to_retry(
    tmp_path: Path, db_url: str
) -> None:
    """Telegram redelivers non-2xx: an update that arrives while the adapter is still
    starting is answered 503 with Retry-After, not lost and not half-stored."""
    async with harness(tmp_path, db_url, start=False) as early:
        response = await early.post(payload("supergroup_message"))
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "starting" in response.json()["error"]
        assert await early.stored() == []
