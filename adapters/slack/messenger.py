"""Nudges out: ``chat.postMessage`` as DMs (or into an escalation channel), ``chat.update``
in place, every failure a ``DeliveryError`` the outbox understands."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.blocks import Block, NameOf, escape, fallback, nudge_blocks, updated_blocks
from adapters.slack.pacing import ChannelBusy, ChannelPacer, retry_after
from adapters.slack.summary_blocks import summary_blocks, summary_fallback
from adapters.slack.views import mrkdwn
from bot.domain.ports import (
    Delivered,
    DeliveryError,
    NudgeUpdate,
    NudgeView,
    Recipient,
    ReplyTarget,
)
from bot.domain.summary import SummaryView

log = logging.getLogger("nudgebot.slack")

# Error codes that no retry can fix (https://docs.slack.dev/reference/methods/chat.postMessage).
PERMANENT = frozenset(
    {
        "account_inactive",
        "cannot_dm_bot",
        "cant_update_message",
        "channel_not_found",
        "edit_window_closed",
        "ekm_access_denied",
        "invalid_arguments",
        "invalid_auth",
        "invalid_blocks",
        "invalid_blocks_format",
        "is_archived",
        "message_not_found",
        "messages_tab_disabled",
        "missing_scope",
        "msg_too_long",
        "no_permission",
        "no_text",
        "not_authed",
        "not_in_channel",
        "restricted_action",
        "team_access_not_granted",
        "token_revoked",
        "user_disabled",
        "user_not_found",
    }
)
_TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
_LINKS = 4096


def delivery_error(exc: BaseException) -> DeliveryError:
    if isinstance(exc, ChannelBusy):
        return DeliveryError(str(exc), retry_after=exc.retry_after)
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        data = getattr(response, "data", None)
        code = str(data.get("error") or "") if isinstance(data, Mapping) else ""
        if status == 429 or code == "ratelimited":
            wait = retry_after(getattr(response, "headers", None))
            return DeliveryError("slack: rate limited", retry_after=1.0 if wait is None else wait)
        return DeliveryError(f"slack: {code or f'HTTP {status}'}", permanent=code in PERMANENT)
    return DeliveryError(f"slack: {type(exc).__name__}: {exc}")


class SlackMessenger:
    """``Messenger`` (nudges, notices) and ``Replier`` (the Reply button) for Slack."""

    platform = "slack"
    # Sends the deliverer keeps in flight per recipient: one on the wire, one waiting for
    # the channel's pace. More would only queue in the pacer, holding outbox leases, while
    # the deliverer's other slots could be feeding idle channels.
    lane_depth = 2

    def __init__(self, client: AsyncWebClient, pacer: ChannelPacer, name_of: NameOf) -> None:
        self.client = client
        self.pacer = pacer
        self.name_of = name_of
        self._links: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def send_nudge(self, view: NudgeView) -> Delivered:
        self._check(view.recipient)
        link = await self.link(view)
        metadata = {
            "event_type": "nudgebot_nudge",
            "event_payload": {"nudge_id": view.nudge_id, "conversation_id": view.conversation_id},
        }
        return await self.post(
            view.recipient.address,
            fallback(view),
            blocks=nudge_blocks(view, link, self.name_of),
            metadata=metadata,
        )

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None:
        channel, _, ts = ref.partition(":")
        if not channel or not ts:
            raise DeliveryError(f"slack: not a message reference: {ref!r}", permanent=True)
        link = await self.link(view)
        blocks = updated_blocks(view, update, link, self.name_of)
        await self._call(
            lambda: self.client.chat_update(
                channel=channel, ts=ts, text=fallback(view), blocks=blocks
            )
        )

    async def send_text(self, recipient: Recipient, text: str) -> Delivered:
        self._check(recipient)
        return await self.post(recipient.address, mrkdwn(text))

    async def send_summary(self, view: SummaryView) -> Delivered:
        """One message standing for many nudges (bot.domain.summary)."""
        self._check(view.recipient)
        metadata = {
            "event_type": "nudgebot_summary",
            "event_payload": {"summary_id": view.summary_id},
        }
        return await self.post(
            view.recipient.address,
            summary_fallback(view),
            blocks=summary_blocks(view, self.name_of),
            metadata=metadata,
        )

    async def update_summary(self, ref: str, view: SummaryView) -> None:
        channel, _, ts = ref.partition(":")
        if not channel or not ts:
            raise DeliveryError(f"slack: not a message reference: {ref!r}", permanent=True)
        blocks = summary_blocks(view, self.name_of)
        await self._call(
            lambda: self.client.chat_update(
                channel=channel, ts=ts, text=summary_fallback(view), blocks=blocks
            )
        )

    async def send_reply(self, target: ReplyTarget, text: str, person: str) -> Delivered:
        """The Reply button: into the customer's thread, signed "— Alice via Nudgebot". The
        ref is the posted message's id as our ingest spells it (``channel:ts``)."""
        if target.platform != "slack" or not target.channel:
            raise DeliveryError(f"slack cannot reply into {target!r}", permanent=True)
        signed = f"{escape(text)}\n— {escape(self.name_of(person))} via Nudgebot"
        return await self.post(target.channel, signed, thread_ts=target.thread or None)

    async def post(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[Block] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Delivered:
        """One paced ``chat.postMessage``; the ref names the channel Slack used (a DM's D…)."""
        kwargs: dict[str, Any] = {"unfurl_links": False, "unfurl_media": False}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        if blocks is not None:
            kwargs["blocks"] = blocks
        if metadata is not None:
            kwargs["metadata"] = metadata

        async def call() -> AsyncSlackResponse:
            return await self.client.chat_postMessage(channel=channel, text=text, **kwargs)

        try:
            response = await self.pacer.run(channel, call)
        except SlackApiError as exc:
            error = delivery_error(exc)
            if error.retry_after:
                self.pacer.hold(channel, error.retry_after)
            raise error from exc
        except (ChannelBusy, *_TRANSIENT) as exc:
            raise delivery_error(exc) from exc
        return Delivered(f"{response.get('channel') or channel}:{response.get('ts')}")

    async def link(self, view: NudgeView) -> str:
        """The thread's permalink from ``chat.getPermalink`` (cached); the stored URL if that
        fails — a nudge never fails for want of a link."""
        if view.platform != "slack" or not view.channel or not view.thread:
            return view.url
        key = (view.channel, view.thread)
        if (cached := self._links.get(key)) is not None:
            self._links.move_to_end(key)
            return cached
        try:
            response = await self.client.chat_getPermalink(
                channel=view.channel, message_ts=view.thread
            )
        except (SlackApiError, *_TRANSIENT) as exc:
            log.info("chat.getPermalink failed for %s: %s", key, exc)
            return view.url
        found = str(response.get("permalink") or view.url)
        self._links[key] = found
        if len(self._links) > _LINKS:
            self._links.popitem(last=False)
        return found

    @staticmethod
    def _check(recipient: Recipient) -> None:
        if recipient.platform != "slack" or not recipient.address:
            raise DeliveryError(f"slack cannot deliver to {recipient!r}", permanent=True)

    @staticmethod
    async def _call(call: Callable[[], Awaitable[AsyncSlackResponse]]) -> AsyncSlackResponse:
        try:
            return await call()
        except (SlackApiError, *_TRANSIENT) as exc:
            raise delivery_error(exc) from exc
