"""Every real Telegram payload in ../shared/data/realdata/telegram (Telegram's docs, opsdroid's
and PTB's fixtures, updates logged from a live forum group) through the real webhook route:
never a 5xx; customer messages wait; a team reply ends the wait; joins, bots, channel posts,
button presses and other non-speech store nothing; what PTB cannot read is acknowledged and
kept as a dead letter.

Adapted as realdata/README.md says, and no more: update ids made unique, dates moved to the
last hour keeping their differences, group chats mapped to the test config's watched group,
and the forum reply's author made a team member. Telegram's 2015 docs examples are sent
verbatim first, then with the fields today's Bot API always sends (``from.is_bot``,
``file_unique_id``, ``callback_query.chat_instance``).
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from storage import dead_letters_repo
from tests.conftest import SHARED_DATA, shared_data
from tests.telegram.tg_kit import ALICE, GROUP, T0, Harness

WAITS = "a customer message that waits"
NOTHING = "nothing stored"
COMMAND = "/start from a stranger: a command, not a question; nothing stored"
DEAD = "nothing stored, kept as a dead letter"
EDIT = "an edit, stored with its new text"
TEAM_ENDS = "a team reply that ends the wait"

EXPECTED = {
    "captured_forum_topic_photo_caption": WAITS,
    "captured_forum_topic_reply": TEAM_ENDS,
    "captured_forum_topic_text": WAITS,
    "docs_audio": WAITS,  # once the Bot API's is_bot/file_unique_id are there
    "docs_callback_query": NOTHING,  # a button press on a message we never sent
    "docs_chosen_inline_result": NOTHING,
    "docs_document": WAITS,
    "docs_edited": EDIT,
    "docs_entities": WAITS,
    "docs_forwarded": COMMAND,
    "docs_forwarded_channel": COMMAND,
    "docs_inline_query": NOTHING,
    "docs_reply": COMMAND,
    "docs_start": COMMAND,
    "docs_start_no_chat_type": COMMAND,
    "docs_voice": WAITS,
    "opsdroid_anonymous_admin_location": NOTHING,  # sent by GroupAnonymousBot
    "opsdroid_anonymous_admin_poll": DEAD,  # no PollOption.persistent_id; a bot's anyway
    "opsdroid_channel_post": NOTHING,
    "opsdroid_edited_private": EDIT,
    "opsdroid_group_text": WAITS,  # no from.first_name: PTB refuses, the words are kept
    "opsdroid_new_chat_member_flag": NOTHING,
    "opsdroid_reply_private": WAITS,
    "opsdroid_sticker_private": DEAD,  # a sticker without file ids and no words
    "ptb_my_chat_member": NOTHING,
}
_DATE_KEYS = ("date", "edit_date", "forward_date")


def _names() -> list[str]:
    folder = SHARED_DATA / "realdata" / "telegram"
    if not folder.is_dir():
        return sorted(EXPECTED)  # each test then skips with the reason
    return sorted(p.stem for p in folder.glob("*.json"))


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        shared_data(f"realdata/telegram/{name}.json").read_text(encoding="utf-8")
    )
    return data


def _walk(node: Any, visit: Any) -> None:
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def adapt(update: dict[str, Any], update_id: int) -> dict[str, Any]:
    """Ids and times only (see the module docstring)."""
    update = copy.deepcopy(update)
    update["update_id"] = update_id
    dates: list[int] = []
    _walk(update, lambda d: dates.extend(d[k] for k in _DATE_KEYS if type(d.get(k)) is int))
    shift = int((T0 - timedelta(minutes=5)).timestamp()) - max(dates, default=0)

    def visit(node: dict[str, Any]) -> None:
        for key in _DATE_KEYS:
            if type(node.get(key)) is int:
                node[key] += shift
        chat = node.get("chat")
        if isinstance(chat, dict) and chat.get("type") in ("group", "supergroup"):
            chat["id"] = GROUP

    _walk(update, visit)
    return update


def modern(update: dict[str, Any]) -> dict[str, Any]:
    """The fields today's Bot API always sends and the 2015 examples predate."""
    update = copy.deepcopy(update)

    def visit(node: dict[str, Any]) -> None:
        for key in ("from", "forward_from"):
            user = node.get(key)
            if isinstance(user, dict) and "first_name" in user:
                user.setdefault("is_bot", False)
        if "file_id" in node:
            node.setdefault("file_unique_id", "U" + str(node["file_id"])[-10:])
        if "data" in node and "from" in node and "id" in node:  # a callback query
            node.setdefault("chat_instance", "-2948571092835123")

    _walk(update, visit)
    return update


def deliveries(name: str) -> list[dict[str, Any]]:
    raw = _load(name)
    if "update_id" not in raw:  # a Message or a ChatMemberUpdated, as logged
        key = "message" if "message_id" in raw else "my_chat_member"
        raw = {"update_id": 1, key: raw}
    if name == "captured_forum_topic_reply":
        quoted = {"update_id": 1, "message": raw["message"]["reply_to_message"]}
        raw["message"]["from"] = {**raw["message"]["from"], "id": ALICE}  # a team member
        return [adapt(quoted, 70_000), adapt(raw, 70_001)]
    sent = [adapt(raw, 70_000)]
    if name.startswith("docs_"):
        sent.append(adapt(modern(raw), 70_001))
    return sent


def key_of(update: dict[str, Any]) -> str | None:
    message = update.get("message") or update.get("edited_message")
    if not isinstance(message, dict):
        return None
    return f"{message['chat']['id']}:{message['message_id']}"


def test_every_payload_has_an_expectation() -> None:
    shared_data("realdata/telegram")
    assert set(_names()) == set(EXPECTED)


@pytest.mark.parametrize("name", _names())
async def test_real_payload(tg: Harness, name: str) -> None:
    sent = deliveries(name)
    for update in sent:
        response = await tg.post(update)
        assert response.status_code == 200, (name, response.text)
    await tg.service.idle()
    stored = {m: (text, team) for m, _thread, text, team in await tg.stored()}
    waiting = await tg.core.waiting()
    letters = await dead_letters_repo.listing(tg.runtime.db)
    key = key_of(sent[-1])
    outcome = EXPECTED[name]
    if outcome == WAITS:
        assert key in stored and stored[key][1] is False, stored
        assert len(waiting) == 1, waiting
    elif outcome == TEAM_ENDS:
        first = key_of(sent[0])
        assert stored[first][1] is False and stored[key][1] is True, stored
        assert waiting == []
        [conversation] = await tg.conversations()
        assert conversation.waiting_since is None
    elif outcome == EDIT:
        message = sent[-1]["edited_message"]
        assert stored.get(key, ("", False))[0] == message["text"], stored
    else:
        assert stored == {} and waiting == [], stored
    if outcome == DEAD:
        assert letters and all(letter.platform == "telegram" for letter in letters)
    elif not name.startswith("docs_"):
        assert letters == [], [letter.reason for letter in letters]


def test_adapting_changes_ids_and_times_only() -> None:
    raw = _load("docs_reply")
    [verbatim, modernised] = deliveries("docs_reply")
    assert verbatim["message"]["text"] == raw["message"]["text"]
    assert verbatim["message"]["from"] == raw["message"]["from"]
    gap = raw["message"]["date"] - raw["message"]["reply_to_message"]["date"]
    assert verbatim["message"]["date"] - verbatim["message"]["reply_to_message"]["date"] == gap
    assert modernised["message"]["from"]["is_bot"] is False
