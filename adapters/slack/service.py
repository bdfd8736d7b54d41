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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from adapters.slack.batching import IngestBatcher
from adapters.slack.events import Watch
from adapters.slack.listeners import register
from adapters.slack.messenger import SlackMessenger
from adapters.slack.pacing import ChannelPacer, RetryAfterHandler
from adapters.slack.runtime import Background, Deps, Identity, RecentEvents, SlackUnavailable
from bot.config import Config
from bot.domain.ports import Core

log = logging.getLogger("nudgebot.slack")
DEFAULT_API_URL = "https://slack.com/api/"
RETRY_START = (2.0, 300.0)  # first wait and longest wait between auth.test attempts (s)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


MAX_BODY = 1 << 20


@dataclass(frozen=True)
class SlackSettings:
    bot_token: str
    signing_secret: str
    app_token: str | None = None  # Socket Mode instead of HTTP events
    api_url: str = DEFAULT_API_URL
    post_interval: float = 1.0  # seconds between posts to one channel
    timeout: float = 10.0  # per Web API call
    max_retry_wait: float = 10.0  # a longer Retry-After is handed to the outbox


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
        self.deps = Deps(
            core=core,
            watch=Watch.from_config(config),
            identity=identity,
            messenger=self.messenger,
            batcher=IngestBatcher(core.ingest),
            background=Background(),
            now=now,
            recent=RecentEvents(),
        )
        register(self.app, self.deps)
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
                response = await self.handle(Request(scope, capped))
            except _TooLarge:
                response = _error(413, f"body larger than {MAX_BODY} bytes")
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        try:
            response = await self.handler.handle(request)
        except (ValueError, TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
            # Bolt parses the body before it checks the signature: garbage fails here.
            log.info("malformed Slack request: %r", exc)
            return _error(400, "malformed body")
        if response.status_code >= 500:
            return _error(503, "temporarily unable to process; Slack will retry")
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
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        self._started = True

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
        await self.deps.batcher.close()
        if self._session is not None:
            self.client.session = self.bolt_client.session = None
            await self._session.close()
            self._session = None

    def ready(self) -> bool:
        return self._started and self.deps.identity.known is not None
