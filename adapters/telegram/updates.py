"""Telegram ``Update`` → what the bot does with it. Pure: no I/O, no clock.

Every update becomes exactly one of: a message to store (``Incoming``), a command, a team
member's reply to a nudge (reply-through), a button press, a membership change, or
``Ignored`` with the reason. Which conversation a stored message joins needs the database:
the message carries a ``ThreadHint`` and the inbox decides in the transaction that stores it
(``bot.domain.threading``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from telegram import Chat, Message, Update, User

from adapters.telegram import actions
from adapters.telegram.chats import (
    PLATFORM,
    Sources,
    channel_of,
    message_key,
    message_url,
)
from bot.config import Config
from bot.domain.events import Author, InboundMessage, Kind, ThreadHint

COMMANDS = ("waiting", "mine", "oncall", "snooze", "help", "whoami", "start")
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{3,64}))?(?:\s+(.*))?$", re.DOTALL)
_CONVERSATION_MARK = re.compile(r"Conversation #(\d{1,19})")
# Content other than text, in the order Telegram's clients name them; a message with none of
# these and no text is a service message (joins, pins, topic edits, …).
MEDIA = (
    "photo", "video", "animation", "document", "audio", "voice", "video_note", "sticker",
    "contact", "location", "venue", "poll", "dice", "story", "paid_media", "checklist",
)  # fmt: skip


@dataclass(frozen=True)
class Incoming:
    """A customer or team message in a watched chat, before threading."""

    source: str
    chat_id: int
    number: int  # Telegram's message_id, unique within the chat
    topic: int | None  # forum topic (message_thread_id)
    at: datetime
    author: Author
    person: str | None
    text: str
    url: str
    private: bool
    reply_to: int | None  # the replied message's number, when this is a reply
    kind: Kind = Kind.MESSAGE
    edited_at: datetime | None = None

    @property
    def is_team(self) -> bool:
        return self.person is not None

    @property
    def channel(self) -> str:
        return channel_of(self.chat_id, self.topic)

    @property
    def message_id(self) -> str:
        return message_key(self.chat_id, self.number)

    @property
    def hint(self) -> ThreadHint:
        replied = self.reply_to
        return ThreadHint(
            root=str(self.number),
            reply_to=message_key(self.chat_id, replied) if replied is not None else None,
            reply_root=str(replied) if replied is not None else None,
            private=self.private,
        )

    def message(self) -> InboundMessage:
        """The message for the inbox; its thread (here: the one it would start) is decided
        there, from ``hint``."""
        hint = self.hint
        return InboundMessage(
            source=self.source, platform=PLATFORM, message_id=self.message_id, thread=hint.root,
            at=self.at, author=self.author, is_team=self.is_team, text=self.text,
            channel=self.channel, url=self.url, person=self.person, kind=self.kind,
            edited_at=self.edited_at, hint=hint,
        )  # fmt: skip


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    chat_id: int
    chat_type: str
    user_id: int
    user_name: str
    person: str | None  # None: a stranger
    number: int
    topic: int | None

    @property
    def private(self) -> bool:
        return self.chat_type == Chat.PRIVATE


@dataclass(frozen=True)
class ReplyThrough:
    """A team member answered a nudge with Telegram's reply: post ``text`` to the customer."""

    person: str
    user_id: int
    user_name: str
    chat_id: int
    number: int
    text: str
    conversation_id: int
    nudge_id: int | None


@dataclass(frozen=True)
class TeamNote:
    """A team member wrote to the bot without a command or a reply to a nudge."""

    person: str
    chat_id: int
    number: int


@dataclass(frozen=True)
class ButtonPress:
    query_id: str
    user_id: int
    person: str | None
    press: actions.Press | None  # None: data we did not send (old or forged)
    chat_id: int | None
    number: int | None


@dataclass(frozen=True)
class Membership:
    chat_id: int
    title: str
    status: str
    source: str | None


@dataclass(frozen=True)
class Ignored:
    reason: str
    warn: bool = False


Classified = Incoming | Command | ReplyThrough | TeamNote | ButtonPress | Membership | Ignored


def content_text(message: Message) -> str | None:
    """Text, caption, or a ``[photo]``-style label; None for service messages."""
    text = message.text or message.caption
    if text:
        return text
    for kind in MEDIA:
        if getattr(message, kind, None):
            if kind == "sticker" and message.sticker is not None and message.sticker.emoji:
                return f"[sticker {message.sticker.emoji}]"
            return f"[{kind.replace('_', ' ')}]"
    return None


def clean(text: str) -> str:
    """What every database can store: no NUL (PostgreSQL refuses it) and no lone surrogates
    (JSON can carry ``"\\ud800"``, UTF-8 cannot)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _name(user: User) -> str:
    return clean(user.full_name or (user.username or str(user.id)))


def _topic(message: Message) -> int | None:
    return message.message_thread_id if message.is_topic_message else None


def _reply_number(message: Message) -> int | None:
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None  # in a forum every topic message "replies" to the topic's first message
    return replied.message_id


def _command(message: Message, bot_username: str) -> tuple[str, str] | None:
    """(name, args) of a command for us; ("", "") for another bot's; None: not a command."""
    match = _COMMAND.match(message.text or "")
    if match is None:
        return None
    name, addressed, args = match.group(1).lower(), match.group(2), match.group(3) or ""
    if addressed and addressed.lower() != bot_username.lower():
        return ("", "")  # another bot's command: not ours, not a customer message either
    if name in COMMANDS:
        return name, args.strip()
    # "/refund please" in a customer group is a customer talking; "/foo@thisbot" is for us.
    return ("unknown", "") if addressed else None


def nudge_target(replied: Message, bot_id: int) -> tuple[int, int | None] | None:
    """(conversation id, nudge id) when ``replied`` is one of our nudges: from its buttons'
    data, else from the "Conversation #N" line (buttons are gone once a nudge resolves)."""
    if replied.from_user is None or replied.from_user.id != bot_id:
        return None
    markup = replied.reply_markup
    if markup is not None:
        for row in markup.inline_keyboard:
            for button in row:
                data = button.callback_data if isinstance(button.callback_data, str) else None
                press = actions.decode(data)
                if press is not None:
                    return press.conversation_id, press.nudge_id
    found = _CONVERSATION_MARK.search(replied.text or "")
    return (int(found.group(1)), None) if found else None


def _private(message: Message, user: User, person: str | None, bot_id: int) -> Classified | None:
    """A team member's private chat is for commands and replies to nudges, never customers."""
    if person is None:
        return None
    replied = message.reply_to_message
    target = nudge_target(replied, bot_id) if replied is not None else None
    text = clean(message.text or message.caption or "")
    if target is None or not text.strip():
        return TeamNote(person, message.chat.id, message.message_id)
    return ReplyThrough(person, user.id, _name(user), message.chat.id, message.message_id,
                        text, target[0], target[1])  # fmt: skip


def classify_message(
    message: Message, sources: Sources, config: Config, bot_id: int, bot_username: str,
    *, edited: bool = False,
) -> Classified:  # fmt: skip
    chat, user = message.chat, message.from_user
    if chat.type == Chat.CHANNEL:
        return Ignored("channel post")
    if message.migrate_to_chat_id:
        return Ignored(
            f"group {chat.id} became supergroup {message.migrate_to_chat_id}: put the new id "
            "in the source's chats",
            warn=True,
        )
    if user is None or user.is_bot or message.is_automatic_forward:
        return Ignored("sent by a bot, a channel or an anonymous admin")
    private = chat.type == Chat.PRIVATE
    person = config.person_by_platform(PLATFORM, user.id)
    command = _command(message, bot_username)
    if command is not None:
        name, args = command
        if not name or edited:
            return Ignored("an edited command, or another bot's")
        return Command(name, args, chat.id, chat.type, user.id, _name(user), person,
                       message.message_id, _topic(message))  # fmt: skip
    if private and person is not None:
        if edited:
            return Ignored("team member edited a private message")
        found = _private(message, user, person, bot_id)
        assert found is not None
        return found
    source = sources.for_chat(chat)
    if source is None:
        where = "private chats" if private else f"chat {chat.id}"
        return Ignored(f"no Telegram source takes {where}")
    text = content_text(message)
    if text is None:
        return Ignored("service message")
    text = clean(text)
    topic = _topic(message)
    return Incoming(
        source=source, chat_id=chat.id, number=message.message_id, topic=topic,
        at=message.date, author=Author(str(user.id), _name(user)), person=person, text=text,
        url=message_url(chat, message.message_id, topic), private=private,
        reply_to=None if private else _reply_number(message),
        kind=Kind.EDIT if edited else Kind.MESSAGE,
        edited_at=message.edit_date if edited else None,
    )  # fmt: skip


def classify(
    update: Update, sources: Sources, config: Config, bot_id: int, bot_username: str
) -> Classified:
    if update.message is not None:
        return classify_message(update.message, sources, config, bot_id, bot_username)
    if update.edited_message is not None:
        return classify_message(
            update.edited_message, sources, config, bot_id, bot_username, edited=True
        )
    if update.callback_query is not None:
        query = update.callback_query
        data = query.data if isinstance(query.data, str) else None
        held = query.message if isinstance(query.message, Message) else None
        return ButtonPress(
            query.id, query.from_user.id, config.person_by_platform(PLATFORM, query.from_user.id),
            actions.decode(data), held.chat.id if held else None, held.message_id if held else None,
        )  # fmt: skip
    if update.my_chat_member is not None:
        change = update.my_chat_member
        chat = change.chat
        return Membership(chat.id, chat.title or chat.full_name or str(chat.id),
                          change.new_chat_member.status, sources.for_chat(chat))  # fmt: skip
    return Ignored("update type not handled")
