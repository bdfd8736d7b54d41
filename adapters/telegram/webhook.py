"""``POST /telegram/webhook``: verify, read, store, answer.

The secret Telegram echoes in ``X-Telegram-Bot-Api-Secret-Token`` is checked (constant time)
before the body is read, so an unauthenticated client cannot make us parse anything. Errors
are one-line JSON like the rest of the HTTP API: 401 bad secret, 413 body over 1 MiB, 400 not
a JSON update object (kept as a dead letter: the sender knew the secret), 503 (with
Retry-After) when the update could not be stored yet — Telegram keeps a non-2xx delivery and
retries it for up to 24 hours, and storing is idempotent, so a retry is always safe.

200 means stored: as a message, as what a command or button did, as "nothing to store"
(joins, other bots), or as a dead letter — an update PTB cannot read and that holds no
message we could rebuild (``reading.py``), or one the database refused for good. A delivery
that fails the same way each time must not block Telegram's queue for this bot, and must not
vanish either.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.telegram.service import NotStarted
from bot.httpbody import MAX_BODY, BodyError, read_limited

log = logging.getLogger("nudgebot.telegram")
PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class Receiver(Protocol):
    """What the route feeds: ``TelegramService`` (or, in the benchmark, a bare Application)."""

    async def receive_json(self, data: dict[str, Any], raw: bytes) -> None: ...

    async def keep(self, raw: bytes, reason: str) -> None: ...


class Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def secret_ok(expected: str, given: str | None) -> bool:
    if given is None:
        return False
    # Starlette hands headers over as latin-1 text: back to the bytes the client sent.
    return hmac.compare_digest(expected.encode(), given.encode("latin-1"))


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    try:
        return await read_limited(request, limit)
    except BodyError as exc:
        raise Rejected(exc.status, exc.message) from None


def parse_json(body: bytes) -> dict[str, Any]:
    """The update object, or ``Rejected(400)``: not JSON, nested too deeply, not an object
    with an integer ``update_id``. Reading it into PTB's types is the service's job."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise Rejected(400, "body is nested too deeply") from None
    except ValueError:  # UnicodeDecodeError included
        raise Rejected(400, "body is not valid JSON") from None
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        raise Rejected(400, "not a Telegram update: expected an object with an integer update_id")
    return data


def webhook_route(service: Receiver, secret: str, path: str = PATH) -> Route:
    async def telegram_webhook(request: Request) -> Response:
        if not secret_ok(secret, request.headers.get(SECRET_HEADER)):
            return _error(401, f"missing or wrong {SECRET_HEADER}")
        try:
            body = await read_body(request)
        except Rejected as exc:
            return _error(exc.status, exc.message)
        try:
            data = parse_json(body)
        except Rejected as exc:
            return await _unreadable(service, body, exc)
        try:
            await service.receive_json(data, body)
        except NotStarted:
            return _error(503, "Telegram adapter starting; retry", {"Retry-After": "5"})
        except Exception as exc:  # storage failures only: a bad update is a dead letter
            log.warning("update %s not stored yet: %r", data["update_id"], exc)
            return _error(503, "update not stored; retry", {"Retry-After": "5"})
        return JSONResponse({"ok": True})

    return Route(path, telegram_webhook, methods=["POST"])


async def _unreadable(service: Receiver, body: bytes, rejected: Rejected) -> Response:
    """Whoever knows the secret sent something that is no update: tell them (400), and keep
    it — it may be a Bot API server we do not understand yet."""
    if body.strip():
        try:
            await service.keep(body, rejected.message)
        except Exception as exc:
            log.warning("unreadable Telegram delivery not kept: %r", exc)
            return _error(503, "update not stored; retry", {"Retry-After": "5"})
    return _error(rejected.status, rejected.message)
