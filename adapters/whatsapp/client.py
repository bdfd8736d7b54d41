"""Replies out: ``POST {api_url}/{phone_number_id}/messages`` with the bearer token.

Graph API errors become ``DeliveryError`` with what a person can act on: 131047 (more than
24 hours since the customer wrote: only a template can be sent) and other 4xx are permanent;
130429 (throughput) and 131056 (too many messages to one customer) are to be retried later;
network trouble and 5xx are neither. The token never appears in a message or log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from adapters.whatsapp import PLATFORM
from bot.domain.ports import Delivered, DeliveryError, ReplyTarget

log = logging.getLogger("nudgebot.whatsapp")
DEFAULT_API_URL = "https://graph.facebook.com/v21.0"
MAX_REPLY = 4096  # Cloud API limit for a text body
RETRY_LATER = {130429: 60.0, 131056: 60.0, 80007: 60.0}
OUTSIDE_WINDOW = 131047


def _error_of(response: httpx.Response) -> tuple[int | None, str]:
    try:
        body: Any = response.json()
    except ValueError:
        return None, f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, f"HTTP {response.status_code}"
    code = error.get("code") if isinstance(error.get("code"), int) else None
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    text = str(details or error.get("message") or f"HTTP {response.status_code}")
    return code, text[:300]


class WhatsAppClient:
    """One business number's sender. ``http`` is shared and closed by the owner."""

    def __init__(self, http: httpx.AsyncClient, api_url: str, token: str) -> None:
        self.http = http
        self.api_url = api_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {token}"}

    async def send_text(self, phone_number_id: str, to: str, text: str) -> str:
        """Send a free-form text; the ``wamid`` Meta gives it."""
        payload = {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": "text", "text": {"preview_url": False, "body": text[:MAX_REPLY]},
        }  # fmt: skip
        what = f"reply to WhatsApp {to}"
        try:
            response = await self.http.post(
                f"{self.api_url}/{phone_number_id}/messages", json=payload, headers=self._auth
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{what}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            code, text_ = _error_of(response)
            if code == OUTSIDE_WINDOW:
                raise DeliveryError(
                    f"{what}: outside the 24-hour window, only a template can be sent "
                    f"({code}: {text_})", permanent=True,
                )  # fmt: skip
            if code in RETRY_LATER:
                raise DeliveryError(f"{what}: rate limited ({code}: {text_})",
                                    retry_after=RETRY_LATER[code])  # fmt: skip
            permanent = 400 <= response.status_code < 500 and response.status_code != 429
            raise DeliveryError(f"{what}: {code or response.status_code}: {text_}",
                                permanent=permanent)  # fmt: skip
        try:
            wamid = response.json()["messages"][0]["id"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise DeliveryError(f"{what}: Graph API answered without a message id") from None
        if not isinstance(wamid, str) or not wamid:
            raise DeliveryError(f"{what}: Graph API answered without a message id")
        return wamid


class WhatsAppReplier:
    """``Replier``: a team member's reply, posted into the customer's chat, signed with their
    name. The ref is the ``wamid``, the id our ingest would give the message, so the core
    stores it as the member's team message and status reports can find it."""

    platform = PLATFORM

    def __init__(self, client: WhatsAppClient, name: Callable[[str], str] = str) -> None:
        self.client = client
        self.name = name

    async def send_reply(self, target: ReplyTarget, text: str, person: str) -> Delivered:
        if target.platform != PLATFORM:
            raise DeliveryError(f"{target.platform} thread handed to WhatsApp", permanent=True)
        if not target.channel or not target.thread.isdigit():
            raise DeliveryError(
                f"not a WhatsApp chat: {target.channel!r}/{target.thread!r}", permanent=True
            )
        signed = f"{text}\n\n— {self.name(person)}"
        wamid = await self.client.send_text(target.channel, target.thread, signed)
        return Delivered(wamid)
