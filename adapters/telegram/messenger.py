"""``Messenger`` and ``Replier`` for Telegram: nudges into team members' private chats, edited
in place; replies posted into customer chats.

A nudge is a private message (HTML) with an inline keyboard; ``Delivered.ref`` is
``"<chat id>:<message id>"``, which ``update_nudge`` edits. Errors become ``DeliveryError``:
flood control carries ``retry_after``; a blocked bot, an unknown chat or a bad request is
``permanent`` (retrying cannot help); network trouble is neither.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from adapters.telegram import render, summary_render
from adapters.telegram.chats import PLATFORM, message_key, parse_channel, parse_message_key
from adapters.telegram.ratelimit import retry_after_seconds
from bot.domain.ports import (
    Delivered,
    DeliveryError,
    NudgeUpdate,
    NudgeView,
    Recipient,
    ReplyTarget,
)
from bot.domain.summary import SummaryView

log = logging.getLogger("nudgebot.telegram")
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def call(request: Awaitable[Any], what: str) -> Any:
    """Await a Bot API call, translating PTB's errors into ``DeliveryError``."""
    try:
        return await request
    except RetryAfter as exc:
        seconds = retry_after_seconds(exc)
        raise DeliveryError(f"{what}: flood control, retry in {seconds:g}s",
                            retry_after=seconds) from exc  # fmt: skip
    except BadRequest as exc:
        if "not modified" in exc.message.lower():
            return None  # the message already shows this: nothing to do
        raise DeliveryError(f"{what}: {exc.message}", permanent=True) from exc
    except InvalidToken as exc:  # its message quotes the token itself
        raise DeliveryError(f"{what}: Telegram rejected the bot token", permanent=True) from exc
    except Forbidden as exc:
        raise DeliveryError(f"{what}: {exc.message}", permanent=True) from exc
    except TelegramError as exc:  # NetworkError, TimedOut, server errors: try again later
        raise DeliveryError(f"{what}: {exc.message}") from exc


class TelegramMessenger:
    platform = PLATFORM

    def __init__(self, bot: Bot, name: Callable[[str], str] = str) -> None:
        self.bot = bot
        self.name = name  # team member id → how replies are signed

    async def send_nudge(self, view: NudgeView) -> Delivered:
        chat_id = _chat(view.recipient)
        sent: Message = await call(
            self.bot.send_message(
                chat_id, render.nudge_html(view), parse_mode=ParseMode.HTML,
                reply_markup=render.keyboard(view), link_preview_options=_NO_PREVIEW,
            ),
            f"nudge {view.nudge_id} to {view.recipient.person or chat_id}",
        )  # fmt: skip
        return Delivered(message_key(sent.chat.id, sent.message_id))

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None:
        where = parse_message_key(ref)
        if where is None:
            raise DeliveryError(f"not a Telegram message ref: {ref!r}", permanent=True)
        chat_id, message_id = where
        await call(
            self.bot.edit_message_text(
                render.nudge_html(view, update), chat_id=chat_id, message_id=message_id,
                parse_mode=ParseMode.HTML, reply_markup=render.keyboard(view, update),
                link_preview_options=_NO_PREVIEW,
            ),
            f"update of nudge {view.nudge_id} ({ref})",
        )  # fmt: skip

    async def send_text(self, recipient: Recipient, text: str) -> Delivered:
        chat_id = _chat(recipient)
        sent: Message = await call(
            self.bot.send_message(
                chat_id, render.markdown_light(text)[: render.MAX_MESSAGE],
                parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW,
            ),
            f"notice to {recipient.person or chat_id}",
        )  # fmt: skip
        return Delivered(message_key(sent.chat.id, sent.message_id))

    async def send_summary(self, view: SummaryView) -> Delivered:
        """One message standing for many nudges (bot.domain.summary)."""
        chat_id = _chat(view.recipient)
        sent: Message = await call(
            self.bot.send_message(
                chat_id, summary_render.summary_html(view), parse_mode=ParseMode.HTML,
                reply_markup=summary_render.summary_keyboard(view),
                link_preview_options=_NO_PREVIEW,
            ),
            f"summary {view.summary_id} to {view.recipient.person or chat_id}",
        )  # fmt: skip
        return Delivered(message_key(sent.chat.id, sent.message_id))

    async def update_summary(self, ref: str, view: SummaryView) -> None:
        where = parse_message_key(ref)
        if where is None:
            raise DeliveryError(f"not a Telegram message ref: {ref!r}", permanent=True)
        chat_id, message_id = where
        await call(
            self.bot.edit_message_text(
                summary_render.summary_html(view), chat_id=chat_id, message_id=message_id,
                parse_mode=ParseMode.HTML, reply_markup=summary_render.summary_keyboard(view),
                link_preview_options=_NO_PREVIEW,
            ),
            f"update of summary {view.summary_id} ({ref})",
        )  # fmt: skip

    async def send_reply(self, target: ReplyTarget, text: str, person: str) -> Delivered:
        """``Replier``: post a team member's reply into the customer's chat (forum topic
        included), as a Telegram reply to the waiting message when it still exists, signed
        "— Name". The ref is the id our ingest gives that message, so the core can store it
        as the member's team message."""
        if target.platform != PLATFORM:
            raise DeliveryError(f"{target.platform} thread handed to Telegram", permanent=True)
        try:
            chat_id, topic = parse_channel(target.channel)
        except ValueError:
            raise DeliveryError(
                f"not a Telegram chat: {target.channel!r}", permanent=True
            ) from None
        replied = parse_message_key(target.reply_to) if target.reply_to else None
        number = replied[1] if replied is not None and replied[0] == chat_id else None
        reply = ReplyParameters(number, allow_sending_without_reply=True) if number else None
        signed = f"{render.esc(text)}\n\n— {render.esc(self.name(person))}"
        sent: Message = await call(
            self.bot.send_message(
                chat_id, signed[: render.MAX_MESSAGE], parse_mode=ParseMode.HTML,
                reply_parameters=reply, message_thread_id=topic, link_preview_options=_NO_PREVIEW,
            ),
            f"reply into chat {chat_id}",
        )  # fmt: skip
        return Delivered(message_key(sent.chat.id, sent.message_id))


def _chat(recipient: Recipient) -> int | str:
    if recipient.platform != PLATFORM:
        raise DeliveryError(f"{recipient.platform} recipient handed to Telegram", permanent=True)
    address = recipient.address.strip()
    try:
        return int(address)
    except ValueError:
        if address.startswith("@"):
            return address
        raise DeliveryError(f"not a Telegram chat id: {address!r}", permanent=True) from None
