"""The Telegram adapter as one object: a PTB ``Application`` (no updater: updates come from
our own webhook route or polling loop), the handlers, the messenger and the lifecycle.

``receive(update)`` is the one way in. It stores what should be stored before it returns —
that is what the webhook's 200 promises — and leaves answering Telegram (commands, buttons,
reply-through) to tasks of the application, so the request stays fast. A *transient* failure
to store (the database is away: the wiring says which exceptions those are) is re-raised, so
the route answers 503 and Telegram redelivers; anything else is logged and dropped, since a
redelivery would fail the same way and hold up the updates behind it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    Chat,
    Update,
)
from telegram.error import InvalidToken
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, TypeHandler

from adapters.telegram.chats import Sources
from adapters.telegram.handlers import Handlers, Now
from adapters.telegram.messenger import TelegramMessenger
from adapters.telegram.reading import chat_of, read_update
from adapters.telegram.updates import (
    ButtonPress,
    Command,
    Ignored,
    Incoming,
    Membership,
    ReplyThrough,
    TeamNote,
    classify,
)
from bot.config import Config
from bot.domain.ports import Core, DeadLetter
from bot.inbox import RecentIds

log = logging.getLogger("nudgebot.telegram")
AnyApplication = Application[Any, Any, Any, Any, Any, Any]
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
PRIVATE_COMMANDS = (
    ("waiting", "Everyone waiting for a reply"),
    ("mine", "Conversations waiting on you"),
    ("oncall", "Who is on call now"),
    ("snooze", "Snooze a conversation: /snooze 42 2h"),
    ("help", "What I can do"),
    ("whoami", "Your Telegram user id and this chat's id"),
)
_SEEN = 10_000  # update ids remembered against redelivery (the database dedups the rest)
_RETRY_START = (5.0, 300.0)  # first and longest wait between start attempts, seconds


class NotStarted(RuntimeError):
    """The application has not finished starting (Telegram unreachable?): redeliver later."""


class UnreadableUpdate(Exception):
    """An update PTB read whose fields we cannot (a type PTB does not check): a dead letter."""


class PollLock(Protocol):
    """Only one replica may call getUpdates (Telegram answers a second one with 409)."""

    async def acquire(self) -> bool: ...

    async def release(self) -> None: ...


class TelegramService:
    def __init__(
        self,
        application: AnyApplication,
        core: Core,
        config: Config,
        now: Now,
        *,
        webhook_url: str | None = None,
        secret: str | None = None,
        transient: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError),
    ) -> None:
        self.application = application
        self.core = core
        self.now = now
        self.config = config
        self.sources = Sources.from_config(config)
        self.messenger = TelegramMessenger(application.bot, name=self._name)
        self.handlers = Handlers(core, config, self.messenger, now)
        self.webhook_url = webhook_url
        self.secret = secret
        self.transient = transient
        self.started = False
        self._initialized = False
        self._seen: RecentIds[int] = RecentIds(_SEEN)
        self._failures: dict[int, BaseException] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._starter: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        application.add_handler(TypeHandler(Update, self._on_update))
        application.add_error_handler(self._on_error)

    @property
    def bot(self) -> Bot:
        bot: Bot = self.application.bot
        return bot

    def _name(self, person: str) -> str:
        member = self.config.person(person)
        return member.name if member is not None else person

    # -- the way in ------------------------------------------------------------------------

    async def receive_json(self, data: dict[str, Any], raw: bytes) -> None:
        """An update as Telegram sent it (a JSON object with an integer ``update_id``): read
        it — salvaging what PTB refuses (``reading.py``) — and handle it, or keep it as a
        dead letter. Returns once the update is stored one way or the other; raises when it
        is not, so the caller answers non-2xx (webhook) or fetches it again (polling)."""
        if not self.started:
            raise NotStarted("the Telegram adapter is still starting")
        read = read_update(data, self.bot)
        if read.update is None:
            await self.keep(raw, read.reason, data)
            return
        if read.salvaged:
            log.warning("update %s: %s; handled from the fields Nudgebot reads",
                        data.get("update_id"), read.reason)  # fmt: skip
        await self.receive(read.update, raw)

    async def receive(self, update: Update, raw: bytes | None = None) -> None:
        if not self.started:
            raise NotStarted("the Telegram adapter is still starting")
        if update.update_id in self._seen:
            return  # Telegram redelivered what we already handled
        self._seen.add(update.update_id)
        await self.application.process_update(update)
        failure = self._failures.pop(id(update), None)
        if failure is None:
            return
        if isinstance(failure, self.transient):
            self._seen.discard(update.update_id)  # let the redelivery try again
            raise failure
        body = raw if raw is not None else json.dumps(update.to_dict()).encode()
        if isinstance(failure, UnreadableUpdate):  # the update's fault: no traceback
            await self._keep_or_forget(update, body, str(failure))
            return
        # A bug, or an update the database refuses: a redelivery would fail the same way and
        # hold up every update behind it, so it is kept as a dead letter instead. If even that
        # fails, the caller must not acknowledge it.
        log.error("Telegram update %s could not be stored", update.update_id, exc_info=failure)
        reason = f"could not be stored: {type(failure).__name__}: {failure}"
        await self._keep_or_forget(update, body, reason)

    async def _keep_or_forget(self, update: Update, body: bytes, reason: str) -> None:
        """Keep the update as a dead letter; if even that fails, the caller must not
        acknowledge it, and its redelivery must be tried again."""
        try:
            await self.keep(body, reason)
        except Exception:
            self._seen.discard(update.update_id)
            raise

    async def keep(self, raw: bytes, reason: str, data: dict[str, Any] | None = None) -> None:
        """Keep an update as a dead letter (raises when it could not be written)."""
        if data is None:
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):
                data = None
        source = self._source_of(data) if isinstance(data, dict) else None
        letter = DeadLetter("telegram", source or "", reason, raw, self.now())
        await self.core.keep_dead_letter(letter)

    def _source_of(self, data: dict[str, Any]) -> str | None:
        chat = chat_of(data)
        if chat is None:
            return None
        return self.sources.for_chat(Chat(chat["id"], chat["type"], username=chat.get("username")))

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        bot = self.application.bot
        try:
            kind = classify(update, self.sources, self.config, bot.id, bot.username)
        except Exception as exc:  # a field PTB let through with the wrong type ("text": 5)
            self._failures[id(update)] = UnreadableUpdate(
                f"cannot read this update ({type(exc).__name__}: {exc})"[:300]
            )
            raise ApplicationHandlerStop from None
        if isinstance(kind, Incoming):
            try:
                await self.handlers.store(kind)
            except Exception as exc:
                self._failures[id(update)] = exc
                raise ApplicationHandlerStop from None
        elif isinstance(kind, Command):
            self.background(self.handlers.command(kind), update)
        elif isinstance(kind, ReplyThrough):
            self.background(self.handlers.reply_through(kind), update)
        elif isinstance(kind, ButtonPress):
            self.background(self.handlers.button(kind), update)
        elif isinstance(kind, TeamNote):
            self.background(self.handlers.note(kind), update)
        elif isinstance(kind, Membership):
            self.handlers.membership(kind)
        elif isinstance(kind, Ignored):
            (log.warning if kind.warn else log.debug)("update %s ignored: %s",
                                                      update.update_id, kind.reason)  # fmt: skip

    def background(self, work: Coroutine[Any, Any, None], update: object = None) -> None:
        task = self.application.create_task(work, update=update)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until every answer already started has been sent (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        where = update.update_id if isinstance(update, Update) else "background task"
        log.error("error handling Telegram update %s", where, exc_info=context.error)

    # -- lifecycle -------------------------------------------------------------------------

    def ready(self) -> bool:
        return self.started

    async def wait_started(self) -> None:
        await self._started.wait()

    async def start(self) -> None:
        """Start now if Telegram answers; else keep trying in the background (readiness
        stays false meanwhile) rather than holding up the whole process."""
        if not await self._try_start():
            self._starter = asyncio.create_task(self._keep_starting(), name="telegram-start")

    async def _keep_starting(self) -> None:
        wait, longest = _RETRY_START
        while not await self._try_start():
            await asyncio.sleep(wait)
            wait = min(wait * 2, longest)

    async def _try_start(self) -> bool:
        try:
            if not self._initialized:
                await self.application.initialize()  # getMe: checks the token
                self._initialized = True
            await self.set_commands()
            await self.configure_delivery()
            if not self.application.running:
                await self.application.start()
        except InvalidToken:  # its message quotes the token itself
            log.error("Telegram adapter failed to start (will retry): Telegram rejected "
                      "TELEGRAM_BOT_TOKEN (InvalidToken)")  # fmt: skip
            return False
        except Exception as exc:
            log.error("Telegram adapter failed to start (will retry): %s", exc)
            return False
        self.started = True
        self._started.set()
        log.info("Telegram adapter started as @%s", self.application.bot.username)
        return True

    async def set_commands(self) -> None:
        bot = self.application.bot
        await bot.set_my_commands([BotCommand(n, d) for n, d in PRIVATE_COMMANDS],
                                  scope=BotCommandScopeAllPrivateChats())  # fmt: skip
        await bot.set_my_commands([BotCommand("whoami", "This chat's id and your user id")],
                                  scope=BotCommandScopeAllGroupChats())  # fmt: skip

    async def configure_delivery(self) -> None:
        """Webhook mode: point Telegram at our route. (Polling overrides this.)"""
        if self.webhook_url is None:
            return
        await self.application.bot.set_webhook(
            self.webhook_url, secret_token=self.secret, allowed_updates=list(ALLOWED_UPDATES),
            max_connections=40,
        )  # fmt: skip

    async def stop(self) -> None:
        if self._starter is not None:
            self._starter.cancel()
            await asyncio.gather(self._starter, return_exceptions=True)
        self.started = False
        self._started.clear()
        await self.idle()
        if self.application.running:
            await self.application.stop()
        if self._initialized:
            await self.application.shutdown()
            self._initialized = False
