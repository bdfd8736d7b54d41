"""Update → meaning, and the threading rules against an in-memory lookup. Pure: no server,
no database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, Update

from adapters.telegram import chats
from adapters.telegram import updates as tu
from bot.config import Config
from bot.domain import threading
from bot.domain.events import InboundMessage, Kind
from bot.domain.ports import ChannelMessage, LatestQuery
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, TOKEN
from tests.telegram.tg_kit import (
    ALICE,
    DANA,
    EVE,
    GROUP,
    STRANGER,
    T0,
    Updates,
    as_replied,
    load_test_config,
    payload,
)

MIN = timedelta(minutes=1)
BOT = Bot(TOKEN)  # never initialised: de_json only needs it for shortcuts


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_test_config(tmp_path)


def classify(data: dict[str, Any], config: Config) -> tu.Classified:
    update = Update.de_json(data, BOT)
    return tu.classify(update, chats.Sources.from_config(config), config, BOT_ID, BOT_USERNAME)


def test_group_message(config: Config) -> None:
    found = classify(payload("supergroup_message"), config)
    assert isinstance(found, tu.Incoming)
    assert (found.source, found.channel, found.message_id) == (
        "community", str(GROUP), f"{GROUP}:4411")  # fmt: skip
    assert found.author.name == "Dana Kim" and not found.is_team
    assert found.at == T0 and found.kind is Kind.MESSAGE


def test_sources_by_username_and_private_option(config: Config) -> None:
    sources = chats.Sources.from_config(config)
    assert sources.private == "dms"
    update = Updates().message(-1005555555555, DANA, "hi", T0)
    update["message"]["chat"]["username"] = "Acme_Public"
    found = classify(update, config)
    assert isinstance(found, tu.Incoming) and found.source == "community"
    assert found.url == "https://t.me/Acme_Public/101"


def test_private_chats_default_to_the_first_telegram_source(tmp_path: Path) -> None:
    text = """\
sources:
  a: {platform: webhook, secret: x}
  b: {platform: telegram, chats: [-1001]}
  c: {platform: telegram, chats: [-1002]}
"""
    assert chats.Sources.from_config(load_test_config(tmp_path, text)).private == "b"
    off = text.replace("chats: [-1001]}", "chats: [-1001], private_chats: false}")
    assert chats.Sources.from_config(load_test_config(tmp_path, off)).private is None


def test_private_chat_of_a_team_member_is_never_a_customer_conversation(config: Config) -> None:
    found = classify(Updates().message(ALICE, ALICE, "hello bot", T0), config)
    assert isinstance(found, tu.TeamNote)
    edited = Updates().message(ALICE, ALICE, "x", T0, key="edited_message", edit_at=T0)
    assert isinstance(classify(edited, config), tu.Ignored)


def test_commands(config: Config) -> None:
    u = Updates()
    found = classify(u.message(STRANGER, STRANGER, "/snooze  42   2h ", T0), config)
    assert isinstance(found, tu.Command)
    assert (found.name, found.args, found.person, found.private) == ("snooze", "42   2h", None,
                                                                     True)  # fmt: skip
    found = classify(u.message(GROUP, ALICE, f"/WhoAmI@{BOT_USERNAME.upper()}", T0), config)
    assert isinstance(found, tu.Command) and found.name == "whoami" and not found.private
    assert isinstance(classify(u.message(GROUP, DANA, "/start@someone_bot", T0), config),
                      tu.Ignored)  # fmt: skip
    assert isinstance(classify(u.message(GROUP, DANA, "/refund now", T0), config), tu.Incoming)


def test_edits_carry_the_edit_time(config: Config) -> None:
    u = Updates()
    original = u.message(GROUP, DANA, "typo", T0)
    found = classify(u.edit(original, "fixed", T0 + 3 * MIN), config)
    assert isinstance(found, tu.Incoming)
    assert (found.kind, found.text, found.at, found.edited_at) == (
        Kind.EDIT, "fixed", T0, T0 + 3 * MIN)  # fmt: skip


def test_migration_is_ignored_loudly(config: Config) -> None:
    update = Updates().message(-4000000001, DANA, "", T0, migrate_to_chat_id=-1009876543210)
    del update["message"]["text"]
    found = classify(update, config)
    assert isinstance(found, tu.Ignored) and found.warn and "-1009876543210" in found.reason


def test_button_press(config: Config) -> None:
    found = classify(payload("callback_query"), config)
    assert isinstance(found, tu.ButtonPress)
    assert found.person == "alice" and found.press is not None
    assert (found.press.nudge_id, found.press.conversation_id) == (1, 1)
    assert (found.chat_id, found.number) == (ALICE, 1001)


def test_membership(config: Config) -> None:
    found = classify(payload("my_chat_member"), config)
    assert isinstance(found, tu.Membership)
    assert (found.status, found.source) == ("member", None)


def test_keys_round_trip() -> None:
    assert chats.parse_channel(chats.channel_of(GROUP, None)) == (GROUP, None)
    assert chats.parse_channel(chats.channel_of(GROUP, 77)) == (GROUP, 77)
    assert chats.parse_message_key(chats.message_key(GROUP, 5)) == (GROUP, 5)
    assert chats.parse_message_key("nonsense") is None


# --- threading against an in-memory store ----------------------------------------------------


@dataclass
class Memory:
    """Stored messages: message_id → (channel, thread, at, is_team, author, waiting)."""

    rows: dict[str, tuple[str, str, datetime, bool, str]] = field(default_factory=dict)
    waiting_threads: set[str] = field(default_factory=set)

    async def threads_of(self, keys: Sequence[tuple[str, str]]) -> Mapping[tuple[str, str], str]:
        return {(s, m): self.rows[m][1] for s, m in keys if m in self.rows}

    async def latest_messages(
        self, queries: Sequence[LatestQuery]
    ) -> Sequence[ChannelMessage | None]:
        return [self._latest(q) for q in queries]

    def _latest(self, q: LatestQuery) -> ChannelMessage | None:
        found = [
            ChannelMessage(mid, thread, when, team, author, thread in self.waiting_threads)
            for mid, (ch, thread, when, team, author) in self.rows.items()
            if ch == q.channel and q.since <= when <= q.at and mid != q.exclude
            and (q.author_id is None or author == q.author_id)
            and (q.is_team is None or team == q.is_team)
        ]  # fmt: skip
        return max(found, key=lambda m: m.at) if found else None

    async def add(self, incoming: tu.Incoming) -> str:
        thread = (await resolve_threads([incoming.message()], self))[0]
        self.rows[incoming.message_id] = (incoming.channel, thread, incoming.at,
                                          incoming.is_team, incoming.author.id)  # fmt: skip
        return thread


async def resolve_threads(items: Sequence[InboundMessage], store: Memory) -> list[str]:
    """The inbox's reads (``bot.inbox.threads``) against the in-memory store, then the rules."""
    known = await store.threads_of(threading.wanted(items))
    fresh = [(i, m) for i, m in enumerate(items) if (m.source, m.message_id) not in known]
    asked = {i: q for i, m in fresh if (q := threading.query_for(m)) is not None}
    found = await store.latest_messages(list(asked.values()))
    return threading.resolve(items, known, dict(zip(asked, found, strict=True)))


def incoming(config: Config, data: dict[str, Any]) -> tu.Incoming:
    found = classify(data, config)
    assert isinstance(found, tu.Incoming), found
    return found


async def test_threading_rules(config: Config) -> None:
    u, memory = Updates(), Memory()

    async def add(chat: int, user: int, minutes: int, **kw: Any) -> tuple[dict[str, Any], str]:
        data = u.message(chat, user, "text", T0 + minutes * MIN, **kw)
        return data, await memory.add(incoming(config, data))

    first, t1 = await add(GROUP, DANA, 0)
    _, t2 = await add(GROUP, EVE, 1)
    _, t3 = await add(GROUP, DANA, 9)
    _, t4 = await add(GROUP, DANA, 25)
    _, t5 = await add(GROUP, EVE, 30, reply_to=as_replied(first))
    _, t6 = await add(GROUP, ALICE, 40)  # plain team message: latest customer conversation
    _, t7 = await add(GROUP, DANA, 50, topic=9)  # another topic, another channel
    assert [t1, t2, t3, t4, t5, t6, t7] == ["101", "102", "101", "104", "101", "101", "107"]
    # A redelivery, or an edit, keeps the stored thread whatever came since.
    assert await memory.add(incoming(config, u.edit(first, "edited", T0 + 60 * MIN))) == "101"
    # A reply to a message we never stored roots the conversation there.
    ghost = {"message_id": 5, "from": {"id": DANA, "is_bot": False, "first_name": "D"},
             "chat": {"id": GROUP, "type": "supergroup", "title": "x"}, "date": 0}  # fmt: skip
    _, t8 = await add(GROUP, ALICE, 61, reply_to=ghost)
    assert t8 == "5"


async def test_private_threading(config: Config) -> None:
    u, memory = Updates(), Memory()
    a = incoming(config, u.message(STRANGER, STRANGER, "q", T0))
    assert await memory.add(a) == "101"
    memory.waiting_threads.add("101")
    b = incoming(config, u.message(STRANGER, STRANGER, "q2", T0 + 600 * MIN))
    assert await memory.add(b) == "101"  # unanswered: the whole chat is one conversation
    memory.waiting_threads.clear()  # answered
    c = incoming(config, u.message(STRANGER, STRANGER, "thanks", T0 + 605 * MIN))
    assert await memory.add(c) == "101"  # right after the last message
    d = incoming(config, u.message(STRANGER, STRANGER, "new", T0 + 2000 * MIN))
    assert await memory.add(d) == "104"


async def test_a_batch_threads_like_one_message_at_a_time(config: Config) -> None:
    """Messages resolved together see each other exactly as if stored one by one."""
    u = Updates()
    script = [
        (GROUP, DANA, 0, {}), (GROUP, EVE, 1, {}), (GROUP, DANA, 9, {}), (GROUP, DANA, 25, {}),
        (GROUP, ALICE, 40, {}), (STRANGER, STRANGER, 0, {}), (STRANGER, STRANGER, 3, {}),
    ]  # fmt: skip
    items = [incoming(config, u.message(c, who, "t", T0 + m * MIN, **kw)) for c, who, m, kw in
             script]  # fmt: skip
    one_by_one, batch = Memory(), Memory()
    expected = [await one_by_one.add(item) for item in items]
    # Shuffled arrival inside one batch: platform time still decides.
    order = [3, 0, 6, 2, 5, 1, 4]
    got = await resolve_threads([items[i].message() for i in order], batch)
    assert [got[order.index(i)] for i in range(len(items))] == expected
    assert expected == ["101", "102", "101", "104", "104", "101", "101"]
