"""The Slack adapter assembled: Bolt ``AsyncApp``, its HTTP route, Socket Mode, the messenger.

``POST /slack/events`` carries events, interactivity and slash commands alike. Bolt checks
the signature and the 5-minute replay window (401 otherwise); this module adds what the rest
of our HTTP surface promises: a 1 MiB body limit (413), a malformed body is a 400, and a
failure on our side is a 503 (Slack retries it) rather than a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from adapters.slack.actors import UserTeams
from adapters.slack.catchup import TIER3_PER_MINUTE, MethodPacer, SlackCatchUp
from adapters.slack.events import ChannelWatch
from adapters.slack.listeners import ingest_event, register
from adapters.slack.messenger import SlackMessenger
from adapters.slack.pacing import ChannelPacer, RetryAfterHandler
from adapters.slack.runtime import (
    Background,
    Identity,
    RecentEvents,
    SlackContext,
    SlackUnavailable,
)
from adapters.slack.verify import (
    Unauthorized,
    Unreadable,
    check_signature,
    is_message_event,
    is_ssl_check,
    readable,
)
from bot.config import Config
from bot.domain.ports import Core, DeadLetter

log = logging.getLogger("nudgebot.slack")
DEFAULT_API_URL = "https://slack.com/api/"
RETRY_START = (2.0, 300.0)  # first wait and longest wait between auth.test attempts (s)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


MAX_BODY = 1 << 20
# What Bolt's middleware and our listeners raise when a signed payload has an unexpected
# shape (``"event": []``, ``"actions": 1``): the payload's fault, and a retry fails the same
# way. Anything else (the database, Slack's API, a timeout) is ours and worth a retry.
SHAPE_ERRORS: tuple[type[BaseException], ...] = (
    AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError,
)  # fmt: skip


@dataclass(frozen=True)
class SlackSettings:
    bot_token: str
    signing_secret: str
    app_token: str | None = None  # Socket Mode instead of HTTP events
    api_url: str = DEFAULT_API_URL
    post_interval: float = 1.0  # seconds between posts to one channel
    timeout: float = 10.0  # per Web API call
    max_retry_wait: float = 10.0  # a longer Retry-After is handed to the outbox
    # conversations.history/replies calls a minute (Tier 3 for internal apps; a distributed
    # non-Marketplace app gets 1: set it so, and Retry-After paces the rest).
    history_per_minute: float = TIER3_PER_MINUTE


def web_client(settings: SlackSettings, *, token: bool = True) -> AsyncWebClient:
    return AsyncWebClient(
        token=settings.bot_token if token else None,
        base_url=settings.api_url,
        timeout=int(settings.timeout),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            RetryAfterHandler(max_retry_count=2, max_wait=settings.max_retry_wait),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class _TooLarge(Exception):
    pass


async def _read(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away: what arrived is all there is
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A ``receive`` that hands Bolt the body already read (and checked)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


RETRY_LATER = "temporarily unable to process; Slack will retry"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _authorize(identity: Identity) -> Callable[[], Awaitable[AuthorizeResult]]:
    # A plain function: Bolt passes arguments by parameter name, a bound method's ``self``
    # included.
    async def authorize() -> AuthorizeResult:
        return await identity.authorize()

    return authorize


class SlackService:
    def __init__(
        self,
        settings: SlackSettings,
        core: Core,
        config: Config,
        now: Callable[[], datetime],
        *,
        client: AsyncWebClient | None = None,
    ) -> None:
        self.settings = settings
        self.client = client or web_client(settings)
        identity = Identity(self.client)
        # Bolt gets a token-less client (its authorize below hands each request the token)
        # and our authorize, which shares Identity's one auth.test.
        self.bolt_client = web_client(settings, token=False)
        self.app = AsyncApp(
            name="nudgebot",
            client=self.bolt_client,
            signing_secret=settings.signing_secret,
            authorize=_authorize(identity),
            process_before_response=True,
            logger=logging.getLogger("nudgebot.slack.bolt"),
        )
        self.pacer = ChannelPacer(settings.post_interval)
        self.messenger = SlackMessenger(self.client, self.pacer, self._name_of(config))
        self.deps = SlackContext(
            core=core,
            watch=ChannelWatch.from_config(config),
            identity=identity,
            messenger=self.messenger,
            background=Background(),
            now=now,
            recent=RecentEvents(),
            user_teams=UserTeams(self.client),
        )
        register(self.app, self.deps)
        self.catchup = SlackCatchUp(
            self.client, self.deps.watch, identity,
            pacer=MethodPacer(settings.history_per_minute), user_teams=self.deps.user_teams,
        )  # fmt: skip
        self._hellos = 0
        self.app.error(self._on_error)
        self.handler = AsyncSlackRequestHandler(self.app)
        self._socket: AsyncSocketModeHandler | None = None
        self._session: aiohttp.ClientSession | None = None
        self._started = False
        self._retrying: asyncio.Task[None] | None = None

    @staticmethod
    def _name_of(config: Config) -> Callable[[str], str]:
        def name_of(person_id: str) -> str:
            person = config.person(person_id)
            return person.name if person is not None else person_id

        return name_of

    @property
    def routes(self) -> list[BaseRoute]:
        if self.settings.app_token:
            return []  # Socket Mode: Slack sends nothing over HTTP
        return [Route("/slack/events", self, methods=["POST"], name="slack_events")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ``/slack/events`` endpoint (an ASGI app, so the body limit applies while
        reading rather than after)."""
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"0")
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                raise _TooLarge
            return message

        response: Response
        if not declared.isdigit() or int(declared) > MAX_BODY:
            response = _error(413, f"body larger than {MAX_BODY} bytes")
        else:
            try:
                response = await self.verified(scope, await _read(capped))
            except _TooLarge:
                response = _error(413, f"body larger than {MAX_BODY} bytes")
        await response(scope, receive, send)

    async def verified(self, scope: Scope, body: bytes) -> Response:
        """Signature first, then a body Bolt can read (``verify.py``), then Bolt."""
        headers = dict(scope.get("headers") or ())
        if not is_ssl_check(body):
            try:
                check_signature(self.settings.signing_secret, body, headers, time.time())
            except Unauthorized as exc:
                # Bolt logged this rejection; it no longer sees the request, so one line
                # here — the reason and the size, never the unverified body.
                log.info("Invalid request signature: %s (body: %d bytes, not logged)",
                         exc, len(body))  # fmt: skip
                return _error(401, str(exc))
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            try:
                parsed = readable(body, content_type.split(";")[0].strip() or None)
            except Unreadable as exc:
                return await self._unreadable(body, str(exc))
            if is_message_event(parsed):
                return await self._message_event(parsed, body)
        return await self.handle(Request(scope, _replay(body)))

    async def _message_event(self, parsed: dict[str, Any], body: bytes) -> Response:
        """A message event, the one kind Slack sends by the thousand, goes to its listener
        straight from the check above. Through Bolt it would be verified and parsed a second
        time and pass authorization (the same cached ``auth.test`` the listener reads),
        the self-event filter (``translate`` drops bot messages, ours included) and listener
        matching, which together cost more CPU than storing it. Failures map as Bolt's
        error handler maps them (``failure_response``)."""
        try:
            await ingest_event(self.deps, parsed["event"], parsed)
        except Exception as error:
            status, payload = await self._failure(error, body)
            return Response(payload, status_code=status, media_type="application/json")
        return Response(status_code=200)

    async def _unreadable(self, body: bytes, reason: str) -> Response:
        letter = DeadLetter("slack", "", reason, body, self.deps.now())
        try:
            await self.deps.core.keep_dead_letter(letter)
        except Exception as exc:
            log.warning("unreadable Slack request not kept: %r", exc)
            return _error(503, RETRY_LATER)
        return _error(400, f"malformed body: {reason}")

    async def _on_error(
        self, error: Exception, request: AsyncBoltRequest, response: BoltResponse | None
    ) -> BoltResponse | None:
        """Bolt's error handler (it replaces Bolt's ERROR traceback)."""
        status, body = await self._failure(error, request.raw_body.encode())
        if status >= 500:
            return None  # a 5xx (mapped to 503 in ``handle``)
        return BoltResponse(status=status, body=body, headers={"content-type": "application/json"})

    async def _failure(self, error: Exception, body: bytes) -> tuple[int, str]:
        """A payload we or a listener cannot read is the sender's 400 and a dead letter;
        anything else is a 503, so Slack retries."""
        unavailable = (503, json.dumps({"error": RETRY_LATER}))
        if not isinstance(error, SHAPE_ERRORS):
            if isinstance(error, SlackUnavailable | OSError) or type(error).__name__ in (
                "OperationalError", "InterfaceError",
            ):  # fmt: skip
                log.warning("Slack request not handled, Slack will retry: %r", error)
            else:
                log.error("Slack request not handled, Slack will retry", exc_info=error)
            return unavailable
        reason = f"unexpected payload shape ({type(error).__name__}: {error})"
        letter = DeadLetter("slack", "", reason, body, self.deps.now())
        try:
            await self.deps.core.keep_dead_letter(letter)
        except Exception as exc:
            log.warning("unreadable Slack request not kept: %r", exc)
            return unavailable
        return 400, json.dumps({"error": f"malformed body: {reason[:200]}"})

    async def handle(self, request: Request) -> Response:
        try:
            response = await self.handler.handle(request)
        except (
            ValueError, TypeError, KeyError, AttributeError, RecursionError, json.JSONDecodeError,
        ) as exc:  # fmt: skip
            # Bolt parses the body before it checks the signature: garbage fails here.
            log.info("malformed Slack request: %r", exc)
            return _error(400, "malformed body")
        if response.status_code >= 500:
            return _error(503, RETRY_LATER)
        return response

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        # Bolt's per-request clients copy this session: one connection pool for every call.
        self.client.session = self.bolt_client.session = self._session
        try:
            await self.deps.identity.get()
        except SlackUnavailable as exc:  # Slack down at boot: keep asking, with backoff
            log.warning("Slack auth.test failed at start (will retry): %s", _first_line(exc))
            self._retrying = asyncio.create_task(self._keep_asking(), name="slack-auth-retry")
        if self.settings.app_token:
            self._socket = AsyncSocketModeHandler(self.app, self.settings.app_token)
            self._socket.client.message_listeners.append(self._on_socket_message)
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        self._started = True

    async def _on_socket_message(self, _client: Any, message: dict[str, Any], _raw: Any) -> None:
        # Slack says "hello" on every (re)connection. Events sent while we were disconnected
        # are not redelivered: after the first hello, read history back.
        if message.get("type") == "hello":
            self._hellos += 1
            if self._hellos > 1:
                log.info("Socket Mode reconnected: catching up")
                self.deps.core.catch_up_now()

    async def _keep_asking(self) -> None:
        """One log line per attempt (the traceback only at DEBUG); /readyz shows Slack as not
        ready meanwhile, and the rest of the process keeps serving."""
        wait, longest = RETRY_START
        attempt = 1
        while True:
            await asyncio.sleep(wait)
            attempt += 1
            try:
                await self.deps.identity.get()
            except SlackUnavailable as exc:
                log.warning("Slack auth.test attempt %d failed (next in %.0fs): %s", attempt,
                            min(wait * 2, longest), _first_line(exc))  # fmt: skip
                log.debug("Slack auth.test failure", exc_info=True)
                wait = min(wait * 2, longest)
            else:
                log.info("Slack answered auth.test after %d attempts", attempt)
                return

    async def stop(self) -> None:
        self._started = False
        if self._retrying is not None:
            self._retrying.cancel()
            await asyncio.gather(self._retrying, return_exceptions=True)
            self._retrying = None
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        await self.deps.background.close()
        if self._session is not None:
            self.client.session = self.bolt_client.session = None
            await self._session.close()
            self._session = None

    def ready(self) -> bool:
        return self._started and self.deps.identity.known is not None
