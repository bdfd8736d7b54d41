"""Channel names for the dashboard, through the adapter's own Web API client."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

_UNKNOWN = frozenset({"channel_not_found", "not_in_channel", "missing_scope"})


class SlackChannelNames:
    platform = "slack"

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def channel_name(self, channel: str) -> str | None:
        try:
            response = await self.client.conversations_info(channel=channel)
        except SlackApiError as exc:
            if exc.response.get("error") in _UNKNOWN:
                return None
            raise
        found = response.get("channel") or {}
        name = found.get("name") if isinstance(found, dict) else None
        return f"#{name}" if isinstance(name, str) and name else None
