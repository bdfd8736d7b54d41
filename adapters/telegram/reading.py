"""Raw update JSON → a PTB ``Update``, also when PTB itself refuses the update.

PTB follows the newest Bot API and requires what it requires (``PollOption.persistent_id``
since Bot API 9.6, ``User.is_bot``, ``User.first_name``, a sticker's file ids); older or
self-hosted Bot API servers, and the examples in Telegram's own docs, omit such fields. A
customer's words must not be lost to that, so when PTB refuses a ``message`` or
``edited_message`` we rebuild it from the fields Nudgebot needs — chat, sender, text or
caption, date, the replied message, forum topic — and let PTB read that. Anything else (a
poll or a sticker without words, a button press, an unknown update kind) comes back unread
with the reason, for the caller to keep whole as a dead letter: a "[poll]" placeholder would
lose the words that made PTB stumble. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import Bot, Chat, Update

_MESSAGE_KEYS = ("message", "edited_message")
_CHAT_TYPES = frozenset({Chat.PRIVATE, Chat.GROUP, Chat.SUPERGROUP, Chat.CHANNEL})
_MAX_REASON = 300


@dataclass(frozen=True)
class Read:
    update: Update | None  # None: unreadable, keep ``reason`` with the raw update
    salvaged: bool = False  # PTB refused the update; ``update`` holds the fields we need
    reason: str = ""


def read_update(data: dict[str, Any], bot: Bot) -> Read:
    """``data`` is a JSON object with an integer ``update_id`` (the route checked that)."""
    try:
        update = Update.de_json(data, bot)
    except Exception as exc:  # PTB raises whatever the malformed field provokes
        detail = " ".join(str(exc).split())[:_MAX_REASON]
        reason = f"python-telegram-bot cannot read this update ({type(exc).__name__}: {detail})"
    else:
        if any(getattr(update, str(kind), None) is not None for kind in Update.ALL_TYPES):
            return Read(update)
        # PTB files keys it does not know under api_kwargs and reads on: a Bot API newer
        # than PTB, or no content at all. Nothing here is ours to ignore — keep it.
        keys = ", ".join(sorted(k for k in data if k != "update_id"))[:_MAX_REASON]
        return Read(None, reason=f"no update kind python-telegram-bot knows (keys: {keys or '-'})")
    rebuilt = salvage(data)
    if rebuilt is None:
        return Read(None, reason=reason)
    try:
        return Read(Update.de_json(rebuilt, bot), salvaged=True, reason=reason)
    except Exception:
        return Read(None, reason=reason)


def salvage(data: dict[str, Any]) -> dict[str, Any] | None:
    """The update with only what Nudgebot reads of its message; None without one."""
    for key in _MESSAGE_KEYS:
        raw = data.get(key)
        if isinstance(raw, dict):
            message = _message(raw, nested=False)
            return None if message is None else {"update_id": data["update_id"], key: message}
    return None


def chat_of(data: dict[str, Any]) -> dict[str, Any] | None:
    """The chat of an update's message (types repaired), for filing it under a source."""
    for key in _MESSAGE_KEYS:
        raw = data.get(key)
        if isinstance(raw, dict) and (chat := _chat(raw.get("chat"))) is not None:
            return chat
    return None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _user(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or (uid := _int(raw.get("id"))) is None:
        return None
    # Bot API servers before 3.0 sent no is_bot: no bot could be in a chat with users then.
    user: dict[str, Any] = {
        "id": uid,
        "is_bot": raw.get("is_bot") is True,
        "first_name": _str(raw.get("first_name")) or _str(raw.get("username")) or str(uid),
    }
    for name in ("last_name", "username"):
        if (value := _str(raw.get(name))) is not None:
            user[name] = value
    return user


def _chat_type(chat_id: int) -> str:
    # Telegram's id ranges: users are positive, supergroups and channels -100…, groups other
    # negatives. A channel looks like a supergroup here; its posts arrive as channel_post.
    if chat_id > 0:
        return Chat.PRIVATE
    return Chat.SUPERGROUP if str(chat_id).startswith("-100") else Chat.GROUP


def _chat(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or (cid := _int(raw.get("id"))) is None:
        return None
    kind = raw.get("type")
    chat: dict[str, Any] = {"id": cid, "type": kind if kind in _CHAT_TYPES else _chat_type(cid)}
    for name in ("title", "username", "first_name", "last_name"):
        if (value := _str(raw.get(name))) is not None:
            chat[name] = value
    if raw.get("is_forum") is True:
        chat["is_forum"] = True
    return chat


def _message(raw: dict[str, Any], *, nested: bool) -> dict[str, Any] | None:
    number, date, chat = _int(raw.get("message_id")), _int(raw.get("date")), _chat(raw.get("chat"))
    if number is None or date is None or chat is None:
        return None
    message: dict[str, Any] = {"message_id": number, "date": date, "chat": chat}
    user = _user(raw.get("from"))
    text = _str(raw.get("text")) or _str(raw.get("caption"))
    if not nested and (user is None or text is None):
        return None  # no sender or no words: nothing Nudgebot could store
    if user is not None:
        message["from"] = user
    if text is not None:
        message["text"] = text
    for name in ("message_thread_id", "edit_date"):
        if (value := _int(raw.get(name))) is not None:
            message[name] = value
    for name in ("is_topic_message", "is_automatic_forward"):
        if raw.get(name) is True:
            message[name] = True
    topic = raw.get("forum_topic_created")
    if isinstance(topic, dict):  # marks a forum topic's first message (see updates._reply_number)
        color = _int(topic.get("icon_color"))
        message["forum_topic_created"] = {
            "name": _str(topic.get("name")) or "", "icon_color": 0 if color is None else color,
        }  # fmt: skip
    replied = raw.get("reply_to_message")
    if not nested and isinstance(replied, dict):
        inner = _message(replied, nested=True)
        if inner is not None:
            message["reply_to_message"] = inner
    return message
