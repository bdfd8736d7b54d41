"""The outermost layer: request metrics by route template, and the last line against 500 pages.

A plain ASGI middleware (not ``BaseHTTPMiddleware``) so streaming request bodies pass through
untouched and the webhook can enforce its size limit while reading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.web.errors import error
from bot.web.metrics import Metrics
from storage.db import describe_error, is_unavailable

log = logging.getLogger("nudgebot.web")
OTHER = "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The one place a database fault becomes an HTTP answer: "the database is not there right
# now" (storage.db.is_unavailable: PostgreSQL down or restarting, SQLite locked past its busy
# timeout) is 503 with a retry hint — Slack, Telegram and webhook senders deliver again, and
# nothing was acknowledged — not a 500 that reads like a bug.
RETRY_AFTER = "5"


def route_template(routes: list[BaseRoute], scope: Scope) -> str:
    """``/hooks/{source_id}`` rather than ``/hooks/acme``: label cardinality stays bounded by
    the route table, whatever paths clients invent."""
    for route in routes:
        match, _ = route.matches(scope)
        if match != Match.NONE:
            return str(getattr(route, "path", OTHER) or OTHER)
    return OTHER


class ObserveMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, routes: Callable[[], list[BaseRoute]]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        # Template of each exact path seen (bounded by the route table: paths with parameters
        # are not kept), for the route table of the given identity and length. Matching every
        # route per request cost as much as the router's own walk.
        self._exact: dict[str, str] = {}
        self._table: tuple[int, int] = (0, -1)
        self._cacheable = False

    def template(self, scope: Scope) -> str:
        routes = self.routes()
        table = (id(routes), len(routes))
        if table != self._table:
            self._exact.clear()
            self._table = table
            # Route and Mount match on the path alone; anything else (Host) may not.
            self._cacheable = all(isinstance(r, Route | Mount) for r in routes)
        path = scope["path"]
        found = self._exact.get(path)
        if found is None:
            found = route_template(routes, scope)
            if found == path and self._cacheable:
                self._exact[path] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route = self.template(scope)
        status = 500
        response_started = False

        async def observe(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, observe)
        except Exception as exc:
            if response_started:
                # Headers are gone; all we can do is let the server drop the connection.
                log.exception("error after the response started: %s %s", scope["method"], route)
                raise
            if is_unavailable(exc):
                log.warning("database unavailable for %s %s: %s", scope["method"], route,
                            describe_error(exc))  # fmt: skip
                status = 503
                response = error(
                    503,
                    f"database unavailable ({type(exc).__name__}); retry",
                    {"Retry-After": RETRY_AFTER},
                )
            else:
                log.exception("unhandled error in %s %s", scope["method"], route)
                status = 500
                response = error(500, "internal error; it has been logged")
            await response(scope, receive, send)
        finally:
            method = str(scope["method"])
            # Clients may send any method token; only the standard ones get their own label.
            method = method if method in _METHODS else OTHER
            self.metrics.http_request(route, method, status, time.perf_counter() - started)
