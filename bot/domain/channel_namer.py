"""What an adapter offers so people see channel and chat names rather than platform ids."""

from __future__ import annotations

from typing import Protocol


class ChannelNamer(Protocol):
    platform: str

    async def channel_name(self, channel: str) -> str | None:
        """The display name of ``channel`` (a Slack channel id, a Telegram chat id), or None
        when the platform does not know it. Other failures raise."""
        ...
