"""One shape for every error: a one-line ``{"error": "..."}`` JSON body.

Clients (webhook senders, scripts, the dashboard) parse one format whatever went wrong, and
the router's own 404/405 answers look like ours instead of Starlette's plain text.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_MAX_ECHO = 80


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    # JSONResponse escapes newlines inside strings, so the body stays on one line.
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


def echo(value: str) -> str:
    """Quote client input in a message without letting it bloat the answer."""
    shown = value if len(value) <= _MAX_ECHO else value[:_MAX_ECHO] + "…"
    return repr(shown)


class ApiError(Exception):
    """Raised by a handler to answer ``status`` with ``message``; nothing has been changed."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = echo(request.url.path)
    if exc.status_code == 404:
        message = f"no such route: {path}"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {path}" + (
            f" (allowed: {allowed})" if allowed else ""
        )
    else:
        message = exc.detail  # Starlette fills in the status phrase when none was given
    return error(exc.status_code, message, exc.headers)


async def api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error(exc.status, exc.message, exc.headers)
