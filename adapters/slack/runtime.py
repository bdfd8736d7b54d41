"""What the Bolt listeners share: the core, the config view, who we are, background work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.actors import UserTeams
from adapters.slack.events import ChannelWatch, Workspace
from adapters.slack.messenger import SlackMessenger
from bot.domain.ports import Core
from bot.inbox import RecentIds

log = logging.getLogger("nudgebot.slack")


class SlackUnavailable(RuntimeError):
    """Slack's Web API could not be reached or refused us; whatever needed it can retry."""


class Identity:
    """``auth.test``, asked once: our team (to tell Slack Connect users apart), our bot user
    (to ignore our own messages) and the workspace URL (for permalinks)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._response: AsyncSlackResponse | None = None
        self._workspace: Workspace | None = None
        self._lock = asyncio.Lock()

    @property
    def known(self) -> Workspace | None:
        return self._workspace

    async def auth_test(self) -> AsyncSlackResponse:
        """The cached answer; raises ``SlackUnavailable`` while Slack cannot be asked."""
        if self._response is not None:
            return self._response
        async with self._lock:
            if self._response is None:
                try:
                    response = await self.client.auth_test()
                except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
                    raise SlackUnavailable(f"auth.test failed: {exc}") from exc
                self._workspace = Workspace.from_auth_test(response.data)  # type: ignore[arg-type]
                self._response = response
        return self._response

    async def get(self) -> Workspace:
        await self.auth_test()
        assert self._workspace is not None
        return self._workspace

    async def authorize(self) -> AuthorizeResult:
        """Bolt's ``authorize``: the same single ``auth.test``. Bolt answers 200 to a failed
        authorization that raises ``SlackApiError`` — an event Slack then never redelivers —
        so a failure here is ``SlackUnavailable``: a 5xx, and Slack retries the event."""
        return AuthorizeResult.from_auth_test_response(
            bot_token=self.client.token, auth_test_response=await self.auth_test()
        )


class Background:
    """Work started after an acknowledgement: tracked, logged when it fails, awaited on stop
    (and by tests, which need to know when "after the ack" is over)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def spawn(self, work: Coroutine[Any, Any, object], name: str) -> None:
        task = asyncio.create_task(work, name=f"slack:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("slack background task %s failed", task.get_name(), exc_info=exc)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace: float = 10.0) -> None:
        try:
            async with asyncio.timeout(grace):
                await self.drain()
        except TimeoutError:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


# ``event_id``s handled lately: a Slack retry of an event we did handle (our ack was merely
# late) is acknowledged without doing the work again (App Home, reactions, the write).
RecentEvents = RecentIds[str]


@dataclass
class SlackContext:
    core: Core
    watch: ChannelWatch
    identity: Identity
    messenger: SlackMessenger
    background: Background
    now: Callable[[], datetime]
    recent: RecentEvents
    ingest_timeout: float = 2.5  # Slack gives us 3 s; a slower store means "retry later"
    user_teams: UserTeams | None = None  # users.info, for senders no workspace mark places

    def name_of(self, person_id: str) -> str:
        person = self.watch.config.person(person_id)
        return person.name if person is not None else person_id

    def timezone_of(self, person_id: str | None) -> str:
        person = self.watch.config.person(person_id) if person_id else None
        return person.timezone if person is not None else self.watch.config.timezone
