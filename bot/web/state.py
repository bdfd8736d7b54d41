"""What the handlers need, hung on ``app.state`` once so each handler gets it typed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request

from bot.app import Runtime
from bot.services.channel_names import ChannelNames
from bot.services.dashboard_history import HistoryCache
from bot.web.metrics import Metrics

# A readiness check answers None when its part is ready, else a short reason.
ReadyCheck = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True)
class WebState:
    runtime: Runtime
    metrics: Metrics
    api_token: str | None  # None: NUDGEBOT_API_TOKEN unset, the API refuses everyone
    ready_checks: Sequence[ReadyCheck] = ()
    names: ChannelNames | None = None  # set by create_app; None only in hand-built states
    history: HistoryCache | None = None  # the dashboard's history figures, kept a minute

    @property
    def channel_names(self) -> ChannelNames:
        assert self.names is not None
        return self.names


def web_state(request: Request) -> WebState:
    state = request.app.state.web
    assert isinstance(state, WebState)
    return state
