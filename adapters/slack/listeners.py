"""Bolt event listeners: messages in, reactions as actions, App Home.

The app runs with ``process_before_response=True``: a message event is acknowledged after it
is stored (``Core.ingest``: the inbox shares one write among concurrent events), so an
acknowledged event is never lost and a failed store makes Slack retry. Anything slower
than a database write runs after the ack on ``Background``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import interactive
from adapters.slack.events import message_id, needs_lookup, reactions, target, translate
from adapters.slack.legible import UnreadableEvent, unreadable
from adapters.slack.runtime import SlackContext
from adapters.slack.views import home_view, stranger_home
from bot.config import Source
from bot.domain.ports import ActionRequest

log = logging.getLogger("nudgebot.slack")
Body = dict[str, Any]


def register(app: AsyncApp, deps: SlackContext) -> None:
    """Every request Slack may send gets a listener: an unhandled one would answer 404, which
    Slack counts as a failed delivery."""

    async def on_message(event: Body, body: Body) -> None:
        await ingest_event(deps, event, body)

    async def on_reaction(event: Body, body: Body) -> None:
        if _seen(deps, body):
            return
        await reaction(deps, event)
        _remember(deps, body)

    async def on_home(event: Body, body: Body, client: AsyncWebClient) -> None:
        if event.get("tab", "home") == "home" and not _seen(deps, body):
            deps.background.spawn(
                publish_home(deps, client, str(event.get("user") or "")), "views.publish"
            )
            _remember(deps, body)

    async def ignore(ack: AsyncAck) -> None:
        await ack()

    app.event("message")(on_message)
    app.event("app_mention")(on_message)
    app.event("reaction_added")(on_reaction)
    app.event("app_home_opened")(on_home)
    interactive.register(app, deps)
    app.event(re.compile(".*"))(ignore)
    app.action(re.compile(".*"))(ignore)
    app.view(re.compile(".*"))(ignore)
    app.shortcut(re.compile(".*"))(ignore)


def _seen(deps: SlackContext, body: Mapping[str, Any]) -> bool:
    return str(body.get("event_id") or "") in deps.recent


def _remember(deps: SlackContext, body: Mapping[str, Any]) -> None:
    if event_id := body.get("event_id"):
        deps.recent.add(str(event_id))


def source_for(deps: SlackContext, event: Mapping[str, Any]) -> tuple[Source, bool] | None:
    """The watched channel's source; for app mentions elsewhere, the mentions source, which
    also takes later replies, edits and deletions in the threads those mentions started:
    those come with ``True`` (the message only joins a conversation the inbox already has,
    decided in the transaction that stores it)."""
    where = target(event)
    if where is None:
        return None
    channel, ts, thread = where
    found = deps.watch.source(channel)
    fallback = deps.watch.mentions
    if found is not None:
        return found, False
    if fallback is None:
        return None
    if event.get("type") == "app_mention":
        return fallback, False
    if thread == ts and event.get("subtype") not in ("message_changed", "message_deleted"):
        return None  # a new top-level message outside our channels: not ours
    return fallback, True


async def ingest_event(deps: SlackContext, event: Body, body: Mapping[str, Any]) -> None:
    if _seen(deps, body):
        return
    if (reason := unreadable(event)) is not None:
        raise UnreadableEvent(reason)  # kept as a dead letter, never dropped in silence
    found = source_for(deps, event)
    if found is None:
        return
    source, joins_only = found
    workspace = await deps.identity.get()
    ask = needs_lookup(event, body, deps.watch)
    looked_up = await deps.user_teams.team_of(ask) if ask and deps.user_teams else None
    message = translate(event, source, deps.watch, workspace, envelope=body, looked_up=looked_up)
    if message is not None:
        if joins_only:
            message = replace(message, joins_only=True)
        # Raises on timeout or a database error: Bolt answers 5xx and Slack retries, which
        # the unique (source, message_id) makes harmless.
        await asyncio.wait_for(deps.core.ingest([message]), deps.ingest_timeout)
    _remember(deps, body)


async def reaction(deps: SlackContext, event: Mapping[str, Any]) -> None:
    """A team member's ✅ on a customer message: not needed; 👀: claimed (per source)."""
    item = event.get("item")
    person = deps.watch.person(str(event.get("user") or ""))
    if not isinstance(item, Mapping) or item.get("type") != "message" or person is None:
        return
    channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
    source = deps.watch.source(channel) or deps.watch.mentions
    name = str(event.get("reaction") or "").split("::", 1)[0]
    kind = reactions(source).get(name) if source is not None else None
    if source is None or kind is None or not channel or not ts:
        return
    conversation = await deps.core.conversation_of(source.id, message_id(channel, ts))
    if conversation is None:
        return
    request = ActionRequest(conversation, kind, person, deps.now(), via="slack")
    deps.background.spawn(interactive.act_quietly(deps, request), f"reaction:{kind}")


async def publish_home(deps: SlackContext, client: AsyncWebClient, user: str) -> None:
    person = deps.watch.person(user)
    if person is None:
        await client.views_publish(user_id=user, view=stranger_home())
        return
    now = deps.now()
    mine = await deps.core.waiting(person)
    everyone = await deps.core.waiting(None)
    view = home_view(mine, everyone, now, deps.timezone_of(person), deps.name_of)
    await client.views_publish(user_id=user, view=view)
