"""Chat names for the dashboard, through the adapter's own Bot (``getChat``)."""

from __future__ import annotations

from telegram import Bot
from telegram.error import BadRequest, Forbidden


class TelegramChatNames:
    platform = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def channel_name(self, channel: str) -> str | None:
        try:
            chat_id: int | str = int(channel)
        except ValueError:
            chat_id = channel  # @channelusername
        try:
            chat = await self.bot.get_chat(chat_id)
        except (BadRequest, Forbidden):  # chat not found, or the bot was removed from it
            return None
        if chat.title:
            return chat.title
        full = " ".join(p for p in (chat.first_name, chat.last_name) if p)
        return full or (f"@{chat.username}" if chat.username else None)
