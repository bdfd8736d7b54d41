"""What the bot does with a classified update: store it, answer a command, act on a button,
or pass a team member's reply through to the customer.

Storing runs while the webhook request waits (it is what the 200 promises); everything that
talks back to Telegram runs after it (see ``service.py``). Commands answer team members only;
anyone else learns nothing but their own ids (``/whoami``, how setup finds them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from telegram import Bot, ReplyParameters
from telegram.constants import ParseMode

from adapters.telegram import actions, render
from adapters.telegram.messenger import TelegramMessenger, call
from adapters.telegram.updates import (
    ButtonPress,
    Command,
    Incoming,
    Membership,
    ReplyThrough,
    TeamNote,
)
from bot.config import Config
from bot.domain.durations import DurationError, parse_positive_duration
from bot.domain.events import ActionKind
from bot.domain.ports import ActionRequest, ActionResult, Core, DeliveryError

log = logging.getLogger("nudgebot.telegram")
Now = Callable[[], datetime]
_ALERT_MAX = 200  # answerCallbackQuery text limit
_NOT_YET = "That isn't available yet on this server."
_FAILED = "Something went wrong; it has been logged."


class Handlers:
    def __init__(self, core: Core, config: Config, messenger: TelegramMessenger, now: Now) -> None:
        self.core = core
        self.config = config
        self.messenger = messenger
        self.now = now

    @property
    def bot(self) -> Bot:
        return self.messenger.bot

    # -- storing ---------------------------------------------------------------------------

    async def store(self, incoming: Incoming) -> None:
        """Through the core's inbox, which shares the write with concurrent updates and
        decides the thread inside it (``Incoming.hint``)."""
        await self.core.ingest([incoming.message()])

    # -- talking back ----------------------------------------------------------------------

    async def say(self, chat_id: int, html_text: str, reply_to: int | None = None,
                  topic: int | None = None) -> None:  # fmt: skip
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        try:
            await call(
                self.bot.send_message(chat_id, html_text, parse_mode=ParseMode.HTML,
                                      reply_parameters=reply, message_thread_id=topic),
                f"answer in chat {chat_id}",
            )  # fmt: skip
        except DeliveryError as exc:
            log.warning("could not answer in chat %s: %s", chat_id, exc)

    async def act(self, request: ActionRequest) -> ActionResult:
        try:
            return await self.core.act(request)
        except NotImplementedError:
            return ActionResult(False, _NOT_YET)
        except Exception:
            log.exception("action %s on conversation %s failed", request.kind,
                          request.conversation_id)  # fmt: skip
            return ActionResult(False, _FAILED)

    def _zone(self, person: str) -> str:
        member = self.config.person(person)
        return member.timezone if member else self.config.timezone

    # -- commands --------------------------------------------------------------------------

    async def command(self, cmd: Command) -> None:
        if cmd.name == "whoami":
            person = cmd.person if cmd.private else None  # a group must not learn who is team
            text = render.whoami(cmd.user_id, cmd.chat_id, cmd.chat_type, person)
            await self.say(cmd.chat_id, text, reply_to=cmd.number, topic=cmd.topic)
            return
        if not cmd.private:
            return  # team data never goes into a shared chat; customers see no noise either
        if cmd.person is None:
            if cmd.name != "start":  # a customer opening the bot's chat is not asking us
                await self.say(cmd.chat_id, render.esc(render.REFUSAL))
            return
        await self.say(cmd.chat_id, await self._team_command(cmd, cmd.person))

    async def _team_command(self, cmd: Command, person: str) -> str:
        zone, now = self._zone(person), self.now()
        try:
            if cmd.name in ("help", "start"):
                return render.HELP
            if cmd.name == "waiting":
                return render.waiting_list(await self.core.waiting(), zone, now, "Waiting")
            if cmd.name == "mine":
                items = await self.core.waiting(person)
                return render.waiting_list(items, zone, now, "Waiting on you")
            if cmd.name == "oncall":
                return render.oncall_list(await self.core.on_call(), zone, now)
            if cmd.name == "snooze":
                return await self._snooze(cmd.args, person, zone, now)
        except Exception:
            log.exception("/%s for %s failed", cmd.name, person)
            return render.esc(_FAILED)
        return render.UNKNOWN

    async def _snooze(self, args: str, person: str, zone: str, now: datetime) -> str:
        usage = "Usage: /snooze &lt;#conversation&gt; [30m|2h|tomorrow]"
        words = args.split()
        if not words or not words[0].lstrip("#").isdigit():
            return usage
        conversation = int(words[0].lstrip("#"))
        spec = words[1].lower() if len(words) > 1 else "30m"
        if spec == "tomorrow":
            until = actions.tomorrow_morning(now, zone)
        else:
            try:
                until = now + parse_positive_duration(spec)
            except DurationError:
                return usage
            if until - now > timedelta(days=30):
                return "Snoozes reach 30 days at most."
        result = await self.act(
            ActionRequest(conversation, ActionKind.SNOOZE, person, now, until=until, via="telegram")
        )
        return render.esc(result.message)

    async def note(self, note: TeamNote) -> None:
        await self.say(note.chat_id, render.TEAM_NOTE, reply_to=note.number)

    # -- buttons ---------------------------------------------------------------------------

    async def button(self, press: ButtonPress) -> None:
        """Every callback query is answered (else the button spins), whatever happens."""
        text = _FAILED
        try:
            text = await self._press(press)
        finally:
            try:
                await call(self.bot.answer_callback_query(press.query_id, text[:_ALERT_MAX]),
                           "answerCallbackQuery")  # fmt: skip
            except DeliveryError as exc:
                log.warning("could not answer callback query %s: %s", press.query_id, exc)

    async def _press(self, press: ButtonPress) -> str:
        if press.person is None:
            return "Only the team can use these buttons."
        if press.press is None:
            return "This button is no longer valid."
        now = self.now()
        until = actions.snooze_until(press.press.button, now, self._zone(press.person))
        result = await self.act(ActionRequest(
            press.press.conversation_id, press.press.kind, press.person, now, until=until,
            nudge_id=press.press.nudge_id, via="telegram",
        ))  # fmt: skip
        return result.message

    # -- reply-through ---------------------------------------------------------------------

    async def reply_through(self, reply: ReplyThrough) -> None:
        try:
            answer = await self._reply_through(reply)
        except Exception:
            log.exception("reply-through for conversation %s failed", reply.conversation_id)
            answer = render.esc(_FAILED)
        await self.say(reply.chat_id, answer, reply_to=reply.number)

    async def _reply_through(self, reply: ReplyThrough) -> str:
        """The core posts through our ``Replier`` (or another platform's, for a Slack
        conversation nudged here) and stores the post as this member's team reply."""
        result = await self.act(ActionRequest(
            reply.conversation_id, ActionKind.REPLY, reply.person, self.now(),
            text=reply.text, nudge_id=reply.nudge_id, via="telegram",
        ))  # fmt: skip
        return ("✅ " if result.ok else "❌ ") + render.esc(result.message)

    # -- membership ------------------------------------------------------------------------

    def membership(self, change: Membership) -> None:
        joined = change.status in ("member", "administrator")
        if joined and change.source is None and change.chat_id < 0:
            log.warning(
                "added to chat %r (id %s), which no source watches: add %s to a Telegram "
                "source's chats", change.title, change.chat_id, change.chat_id,
            )  # fmt: skip
        elif not joined and change.source is not None:
            log.warning("removed from watched chat %r (id %s, source %s): status %s",
                        change.title, change.chat_id, change.source, change.status)  # fmt: skip
        else:
            log.info("chat %s (%r): bot is now %s", change.chat_id, change.title, change.status)
