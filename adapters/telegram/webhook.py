"""``POST /telegram/webhook``: verify, parse, store, answer.

The secret Telegram echoes in ``X-Telegram-Bot-Api-Secret-Token`` is checked (constant time)
before the body is read, so an unauthenticated client cannot make us parse anything. Errors
are one-line JSON like the rest of the HTTP API: 401 bad secret, 413 body over 1 MiB, 400 not
an update, 503 (with Retry-After) when the update could not be stored yet — Telegram retries
non-2xx deliveries, and storing is idempotent, so a retry is always safe. Handler bugs are
logged and answered 200: a delivery that fails the same way each time must not block
Telegram's queue for this bot.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Bot, Update

from adapters.telegram.service import NotStarted
from bot.httpbody import MAX_BODY, BodyError, read_limited

log = logging.getLogger("nudgebot.telegram")
PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class Receiver(Protocol):
    """What the route feeds: ``TelegramService`` (or, in the benchmark, a bare Application)."""

    @property
    def bot(self) -> Bot: ...

    async def receive(self, update: Update) -> None: ...


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


def parse_update(body: bytes, bot: Bot) -> Update:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise Rejected(400, "body is not valid JSON") from None
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        raise Rejected(400, "not a Telegram update: expected an object with an integer update_id")
    try:
        update = Update.de_json(data, bot)
    except Exception as exc:  # PTB raises whatever the malformed field provokes
        raise Rejected(400, f"malformed Telegram update ({type(exc).__name__})") from None
    return update


def webhook_route(service: Receiver, secret: str, path: str = PATH) -> Route:
    async def telegram_webhook(request: Request) -> Response:
        if not secret_ok(secret, request.headers.get(SECRET_HEADER)):
            return _error(401, f"missing or wrong {SECRET_HEADER}")
        try:
            update = parse_update(await read_body(request), service.bot)
        except Rejected as exc:
            return _error(exc.status, exc.message)
        try:
            await service.receive(update)
        except NotStarted:
            return _error(503, "Telegram adapter starting; retry", {"Retry-After": "5"})
        except Exception as exc:  # only transient storage failures reach here
            log.warning("update %s not stored yet: %r", update.update_id, exc)
            return _error(503, "update not stored; retry", {"Retry-After": "5"})
        return JSONResponse({"ok": True})

    return Route(path, telegram_webhook, methods=["POST"])
