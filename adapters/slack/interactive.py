"""Buttons, the reply modal and slash commands.

Only team members (by Slack user id in the config) get answers; anyone else gets the same
polite refusal, which reveals nothing about customers or the team.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import blocks
from adapters.slack.runtime import SlackContext
from adapters.slack.views import (
    HELP,
    REFUSAL,
    oncall_text,
    waiting_blocks,
    waiting_text,
)
from bot.domain.events import ActionKind
from bot.domain.ports import ActionRequest, ActionResult, DeliveryError

log = logging.getLogger("nudgebot.slack")
Body = dict[str, Any]
KINDS = {
    blocks.ACTION_CLAIM: ActionKind.CLAIM,
    blocks.ACTION_SNOOZE: ActionKind.SNOOZE,
    blocks.ACTION_NOT_NEEDED: ActionKind.NOT_NEEDED,
}
SNOOZE = {"30m": timedelta(minutes=30), "2h": timedelta(hours=2)}


def register(app: AsyncApp, deps: SlackContext) -> None:
    async def on_button(ack: AsyncAck, body: Body, action: Body, respond: AsyncRespond) -> None:
        await ack()
        deps.background.spawn(nudge_action(deps, body, action, respond), "action")

    async def on_reply(
        ack: AsyncAck, body: Body, action: Body, client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        deps.background.spawn(open_reply(deps, body, action, client, respond), "views.open")

    async def on_submit(ack: AsyncAck, body: Body, view: Body) -> None:
        await submit_reply(deps, ack, body, view)

    async def on_waiting(ack: AsyncAck, command: Body) -> None:
        await waiting(deps, ack, command)

    async def on_oncall(ack: AsyncAck, command: Body) -> None:
        person = deps.watch.person(str(command.get("user_id") or ""))
        if person is None:
            await ack(text=REFUSAL, response_type="ephemeral")
            return
        text = oncall_text(
            await deps.core.on_call(), deps.now(), deps.timezone_of(person), deps.name_of
        )
        await ack(text=text, response_type="ephemeral")

    async def on_help(ack: AsyncAck, command: Body) -> None:
        member = deps.watch.person(str(command.get("user_id") or "")) is not None
        await ack(text=HELP if member else REFUSAL, response_type="ephemeral")

    app.action(blocks.ACTION_REPLY)(on_reply)
    for action_id in KINDS:
        app.action(action_id)(on_button)
    app.view(blocks.REPLY_CALLBACK)(on_submit)
    app.command("/waiting")(on_waiting)
    app.command("/oncall")(on_oncall)
    app.command("/nudgebot")(on_help)
    app.command(re.compile(".*"))(on_help)


def parse_value(value: str) -> tuple[int, int | None, str] | None:
    """``conversation:nudge[:choice]`` from a button or option value."""
    parts = value.split(":")
    try:
        conversation = int(parts[0])
        nudge = int(parts[1]) if len(parts) > 1 and parts[1] else None
    except ValueError:
        return None
    return conversation, nudge, parts[2] if len(parts) > 2 else ""


def snooze_until(choice: str, now: datetime, tz: str) -> datetime | None:
    """30m, 2h, or tomorrow 09:00 in the clicker's time zone."""
    if choice in SNOOZE:
        return now + SNOOZE[choice]
    if choice != "tomorrow":
        return None
    zone = ZoneInfo(tz)
    day = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(day, time(9, 0), zone).astimezone(now.tzinfo)


def value_at(data: object, *keys: str) -> object:
    """``data[k1][k2]…`` or None: a signed but odd payload must not raise."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def user_of(body: Mapping[str, Any]) -> str:
    return str(value_at(body, "user", "id") or "")


def _value(action: Mapping[str, Any]) -> str:
    selected = action.get("selected_option")
    if isinstance(selected, Mapping):
        return str(selected.get("value") or "")
    return str(action.get("value") or "")


async def act_quietly(deps: SlackContext, request: ActionRequest) -> ActionResult:
    try:
        return await deps.core.act(request)
    except Exception:
        log.exception("core.act failed for %s", request)
        return ActionResult(False, "Sorry, that did not work. Please try again.")


async def nudge_action(deps: SlackContext, body: Body, action: Body, respond: AsyncRespond) -> None:
    person = deps.watch.person(user_of(body))
    if person is None:
        await respond(text=REFUSAL, response_type="ephemeral", replace_original=False)
        return
    parsed = parse_value(_value(action))
    kind = KINDS.get(str(action.get("action_id") or ""))
    if parsed is None or kind is None:
        return
    conversation, nudge, choice = parsed
    now = deps.now()
    until = (
        snooze_until(choice, now, deps.timezone_of(person)) if kind == ActionKind.SNOOZE else None
    )
    if kind == ActionKind.SNOOZE and until is None:
        return
    result = await act_quietly(
        deps,
        ActionRequest(conversation, kind, person, now, until=until, nudge_id=nudge, via="slack"),
    )
    await respond(text=result.message, response_type="ephemeral", replace_original=False)


async def open_reply(
    deps: SlackContext, body: Body, action: Body, client: AsyncWebClient, respond: AsyncRespond
) -> None:
    if deps.watch.person(user_of(body)) is None:
        await respond(text=REFUSAL, response_type="ephemeral", replace_original=False)
        return
    parsed = parse_value(_value(action))
    if parsed is None:
        return
    conversation, nudge, _ = parsed
    ref = await deps.core.conversation_ref(conversation)
    place = blocks.where(ref.platform, ref.channel, ref.source) if ref else "the conversation"
    await client.views_open(
        trigger_id=str(body.get("trigger_id") or ""),
        view=blocks.reply_modal(conversation, nudge, place),
    )


async def submit_reply(deps: SlackContext, ack: AsyncAck, body: Body, view: Body) -> None:
    user = user_of(body)
    person = deps.watch.person(user)
    raw = value_at(view, "state", "values", blocks.REPLY_BLOCK, blocks.REPLY_INPUT, "value")
    text = str(raw or "").strip()
    parsed = parse_value(str(view.get("private_metadata") or ""))
    if person is None or parsed is None:
        await ack(response_action="errors", errors={blocks.REPLY_BLOCK: REFUSAL})
        return
    if not text:
        await ack(response_action="errors", errors={blocks.REPLY_BLOCK: "Write a reply first."})
        return
    await ack()
    conversation, nudge, _ = parsed
    deps.background.spawn(deliver_reply(deps, person, user, conversation, nudge, text), "reply")


async def deliver_reply(
    deps: SlackContext, person: str, user: str, conversation: int, nudge: int | None, text: str
) -> None:
    """The core posts through our ``Replier`` (``SlackMessenger.send_reply``) and stores the
    posted message as this person's team reply; Slack's echo of it is our bot's own message
    and is ignored. Failures reach the person as a DM: the modal has closed by now."""
    request = ActionRequest(
        conversation, ActionKind.REPLY, person, deps.now(), text=text, nudge_id=nudge, via="slack"
    )
    result = await act_quietly(deps, request)
    if not result.ok:
        await _tell(deps, user, f"Your reply was not sent: {result.message}")


async def _tell(deps: SlackContext, user: str, text: str) -> None:
    try:
        await deps.messenger.post(user, blocks.escape(text))
    except DeliveryError:
        log.warning("could not tell %s: %s", user, text)


async def waiting(deps: SlackContext, ack: AsyncAck, command: Body) -> None:
    person = deps.watch.person(str(command.get("user_id") or ""))
    if person is None:
        await ack(text=REFUSAL, response_type="ephemeral")
        return
    mine = str(command.get("text") or "").strip().lower() in ("mine", "me", "my")
    items = await deps.core.waiting(person if mine else None)
    title = "Waiting on you" if mine else "Waiting for a reply"
    await ack(
        text=waiting_text(items),
        response_type="ephemeral",
        blocks=waiting_blocks(items, deps.now(), deps.name_of, title=title),
    )
