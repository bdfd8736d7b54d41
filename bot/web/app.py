"""The Starlette app: routes, error shapes and the observing middleware, wired to a Runtime."""

from __future__ import annotations

import os
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from bot.app import Runtime
from bot.services.channel_names import ChannelNames
from bot.services.dashboard_history import HistoryCache
from bot.web import api, conversation, dashboard, export, health, hooks, oncall, session
from bot.web.errors import ApiError, api_error, http_exception
from bot.web.metrics import Metrics
from bot.web.metrics import metrics as default_metrics
from bot.web.middleware import ObserveMiddleware
from bot.web.state import ReadyCheck, WebState

TOKEN_ENV = "NUDGEBOT_API_TOKEN"


def create_app(
    runtime: Runtime,
    *,
    metrics: Metrics | None = None,
    routes: Sequence[BaseRoute] = (),
    ready_checks: Sequence[ReadyCheck] = (),
) -> Starlette:
    """The HTTP face of one Runtime.

    ``routes`` lets the wiring add platform endpoints (``/slack/events``,
    ``/telegram/webhook``) that then share the error shapes and metrics;
    ``ready_checks`` lets it hold ``/readyz`` at 503 until adapters have started.
    The API token is read once here, so a running server never changes who it trusts.
    """
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    registry = metrics if metrics is not None else default_metrics
    # Platform routes first: webhooks carry nearly all requests, and the router tries routes
    # in order (their paths collide with none of the built-in ones).
    table: list[BaseRoute] = [
        *routes,
        Route("/", dashboard.index, methods=["GET"]),
        Route("/conversations/{conversation_id}", conversation.show, methods=["GET"]),
        Route("/conversations/{conversation_id}", conversation.act, methods=["POST"]),
        Route("/login", session.login, methods=["POST"]),
        Route("/logout", session.logout, methods=["POST"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", health.metrics, methods=["GET"]),
        Route("/hooks/{source_id}", hooks.receive_hook, methods=["POST"]),
        Route("/api/waiting", api.waiting, methods=["GET"]),
        Route("/api/stats", api.stats, methods=["GET"]),
        Route("/api/oncall", oncall.oncall, methods=["GET"]),
        Route("/api/rotations/{rotation_id}.ics", oncall.rotation_ics, methods=["GET"]),
        Route("/api/conversations.csv", export.conversations_csv, methods=["GET"]),
    ]
    app: Starlette
    app = Starlette(
        routes=table,
        # The lambda reads the route table per request, so routes added to the app later
        # are labelled by their template too.
        middleware=[
            Middleware(ObserveMiddleware, metrics=registry, routes=lambda: app.routes),
            Middleware(session.AuthGuard),  # session cookie, failed-credential throttle
        ],
        exception_handlers={HTTPException: http_exception, ApiError: api_error},
    )
    app.state.web = WebState(
        runtime=runtime,
        metrics=registry,
        api_token=token,
        ready_checks=tuple(ready_checks),
        names=ChannelNames(runtime.db, runtime.namers, runtime.now),
        history=HistoryCache(),
    )
    return app
