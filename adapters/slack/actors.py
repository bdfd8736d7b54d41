"""Which workspace a Slack sender belongs to: the marks on the event, then ``users.info``.

Slack Connect puts people of several workspaces in one channel. Slack marks the sender's
workspace in different places depending on the event and the delivery format; bolt-python's
``extract_actor_team_id`` (slack_bolt/request/internals.py) reads them in this order, and so
do we: the event's ``user_team``, then its ``source_team`` and ``user_profile.team``, then
``event.team``; an enterprise id paired in the envelope with a workspace id stands for that
workspace. Only when the event itself carries no mark do the envelope's ``context_team_id``,
``team_id`` and ``authorizations`` speak — except in an externally shared channel, where the
envelope's ``team_id`` may be the sender's workspace (bolt's recorded Slack Connect
``message`` deliveries carry the sender only there and in ``event.team``), so it always counts.
With no mark at all (history pages of some channels), ``users.info`` names the user's team.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("nudgebot.slack")
_EVENT_MARKS = ("user_team", "source_team", "user_profile", "team")
_ENTERPRISE_PAIRS = (("enterprise_id", "team_id"), ("context_enterprise_id", "context_team_id"))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def marks(message: Mapping[str, Any], envelope: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Every workspace id that names the sender of ``message``, in bolt's fallback order."""
    env: Mapping[str, Any] = envelope if isinstance(envelope, Mapping) else {}

    def resolve(team: str) -> str:
        # bolt: an enterprise id equal to the envelope's (context_)enterprise_id stands for
        # the workspace the envelope pairs with it.
        if team.startswith("E"):
            for org, ws in _ENTERPRISE_PAIRS:
                if team == env.get(org) and _text(env.get(ws)):
                    return _text(env.get(ws))
        return team

    found: list[str] = []
    for key in _EVENT_MARKS:
        value = message.get(key)
        if key == "user_profile":
            value = value.get("team") if isinstance(value, Mapping) else None
        if _text(value):
            found.append(resolve(_text(value)))
    shared = env.get("is_ext_shared_channel") is True
    if shared and _text(env.get("team_id")):
        found.append(resolve(_text(env.get("team_id"))))
    if not found:
        found.extend(_text(v) for v in (env.get("context_team_id"), env.get("team_id")) if _text(v))
        authorizations = env.get("authorizations")
        if isinstance(authorizations, list):
            found.extend(
                _text(a.get("team_id"))
                for a in authorizations
                if isinstance(a, Mapping) and _text(a.get("team_id"))
            )
    return tuple(dict.fromkeys(found))


class UserTeams:
    """``users.info`` → the user's ``team_id``, asked once per user (remembered, bounded).

    A failure is remembered as nothing and not retried for this user until the process
    restarts: the sender is then classified by the source's ``customers`` rule, as before."""

    def __init__(self, client: AsyncWebClient, *, size: int = 10_000, timeout: float = 1.0) -> None:
        self.client = client
        self.size = size
        self.timeout = timeout
        self._known: OrderedDict[str, str | None] = OrderedDict()

    async def team_of(self, user: str) -> str | None:
        if not user:
            return None
        if user in self._known:
            return self._known[user]
        team: str | None = None
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.client.users_info(user=user)
            info = response.get("user")
            if isinstance(info, Mapping):
                team = _text(info.get("team_id")) or None
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("users.info %s failed (%s); classifying by the source's rule", user, exc)
        self._known[user] = team
        if len(self._known) > self.size:
            self._known.popitem(last=False)
        return team
