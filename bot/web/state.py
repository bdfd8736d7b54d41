"""What the handlers need, hung on ``app.state`` once so each handler gets it typed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request

from bot.app import Runtime
from bot.services.channel_names import ChannelNames
from bot.services.dashboard_history import HistoryCache
from bot.web.metrics import Metrics


@dataclass(frozen=True)
class ReadyCheck:
    """One part of ``/readyz`` besides the database: ``name`` is its key in ``components``;
    ``check`` answers None when the part is ready, else a short reason (logged, never
    shown). An ``advisory`` part (catch-up) is shown, and listed as ``degraded``, but turns
    the status to 503 only when named in ``?required=``: a channel the bot was removed
    from must not take a replica out of the load balancer."""

    name: str
    check: Callable[[], Awaitable[str | None]]
    advisory: bool = False


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
