"""Telegram chats and messages as Nudgebot names them. Pure.

A chat belongs to the source that lists it (numeric id or ``@username``); private chats with
the bot to the source with ``private_chats: true``. A conversation's ``channel`` is the chat
id, ``chat/topic`` in forums; a message's id is ``chat:number`` (numbers are per chat).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from telegram import Chat

from bot.config import Config

PLATFORM = "telegram"
PRIVATE_CHATS_KEY = "private_chats"  # source option: this source takes the bot's private chats


@dataclass(frozen=True)
class Sources:
    """Which source a chat belongs to: by numeric id or ``@username``; private chats with the
    bot go to the source with ``private_chats: true`` (default: the first Telegram source,
    unless some source sets the option)."""

    by_chat: Mapping[str, str]
    private: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> Sources:
        by_chat: dict[str, str] = {}
        flagged: list[str] = []
        first: str | None = None
        explicit = False
        for source in config.sources.values():
            if source.platform != PLATFORM:
                continue
            for chat in source.chats:
                by_chat.setdefault(chat.lower(), source.id)
            option = source.extra.get(PRIVATE_CHATS_KEY)
            if option is not None:
                explicit = True
                if _truthy(option):
                    flagged.append(source.id)
            if first is None:
                first = source.id
        private = flagged[0] if flagged else (None if explicit else first)
        return cls(by_chat, private)

    def for_chat(self, chat: Chat) -> str | None:
        if chat.type == Chat.PRIVATE:
            return self.private
        found = self.by_chat.get(str(chat.id))
        if found is None and chat.username:
            found = self.by_chat.get("@" + chat.username.lower())
        return found


def _truthy(value: object) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "on", "1")


def channel_of(chat_id: int, topic: int | None) -> str:
    return f"{chat_id}/{topic}" if topic else str(chat_id)


def parse_channel(channel: str) -> tuple[int, int | None]:
    """Inverse of ``channel_of``: (chat id, forum topic or None)."""
    chat, _, topic = channel.partition("/")
    return int(chat), (int(topic) if topic else None)


def message_key(chat_id: int, number: int) -> str:
    return f"{chat_id}:{number}"


def parse_message_key(value: str) -> tuple[int, int] | None:
    chat, _, number = value.rpartition(":")
    try:
        return int(chat), int(number)
    except ValueError:
        return None


def message_url(chat: Chat, number: int, topic: int | None) -> str:
    """A t.me link where Telegram offers one: supergroups and public groups, not private
    chats or basic groups."""
    if chat.type == Chat.PRIVATE:
        return ""
    if chat.username:
        base = f"https://t.me/{chat.username}"
    elif chat.type == Chat.SUPERGROUP and str(chat.id).startswith("-100"):
        base = f"https://t.me/c/{str(chat.id)[4:]}"
    else:
        return ""
    return f"{base}/{topic}/{number}" if topic else f"{base}/{number}"
