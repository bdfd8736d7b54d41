"""``GET /whatsapp/webhook`` (Meta's verification) and ``POST /whatsapp/webhook``.

POST order: read at most 1 MiB, check ``X-Hub-Signature-256`` against the raw bytes, parse
the whole notification, then store its messages in one call — so a forged, malformed or
oversized request stores nothing. Errors are one-line JSON like the rest of the HTTP API:
401 bad signature, 413 too large, 400 not a notification, 503 (Retry-After) when storing
failed for now; Meta redelivers non-2xx notifications and storing is idempotent (the
``wamid`` is the message id), so a retry is always safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from adapters.whatsapp.parse import Malformed, Status, parse_notification
from adapters.whatsapp.verify import SIGNATURE_HEADER, challenge_answer, signature_problem
from bot.domain.events import InboundMessage
from bot.httpbody import BodyError, read_limited

log = logging.getLogger("nudgebot.whatsapp")
PATH = "/whatsapp/webhook"
# (request, source, messages stored): the wiring counts them into the app's metrics
Counted = Callable[[Request, str, int], None]


class Sink(Protocol):
    """Where parsed notifications go: the wiring's ``WhatsAppService``."""

    def source_of(self, phone_number_id: str) -> str | None: ...

    async def store(self, messages: Sequence[InboundMessage]) -> None: ...

    async def statuses(self, request: Request, statuses: Sequence[Status]) -> None: ...


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def webhook_routes(
    sink: Sink, app_secret: str, verify_token: str, counted: Counted | None = None
) -> list[Route]:
    async def verify(request: Request) -> Response:
        answer = challenge_answer(verify_token, request.query_params)
        if answer is None:
            log.warning("WhatsApp verification refused (wrong hub.verify_token or hub.mode)")
            return _error(403, "verification refused: hub.mode or hub.verify_token is wrong")
        return PlainTextResponse(answer)

    async def receive(request: Request) -> Response:
        try:
            body = await read_limited(request)
        except BodyError as exc:
            return _error(exc.status, exc.message)
        problem = signature_problem(app_secret, body, request.headers.get(SIGNATURE_HEADER))
        if problem is not None:
            return _error(401, problem)
        try:
            note = parse_notification(body, sink.source_of)
        except Malformed as exc:
            return _error(400, f"not a WhatsApp notification: {exc}")
        if note.messages:
            try:
                await sink.store(note.messages)
            except Exception as exc:  # transient storage failures: Meta will redeliver
                log.warning("WhatsApp notification not stored yet: %s", type(exc).__name__)
                return _error(503, "notification not stored; retry", {"Retry-After": "5"})
            if counted is not None:
                per_source: dict[str, int] = {}
                for m in note.messages:
                    per_source[m.source] = per_source.get(m.source, 0) + 1
                for source, n in per_source.items():
                    counted(request, source, n)
        if note.statuses:
            try:
                await sink.statuses(request, note.statuses)
            except Exception as exc:  # reports are best effort: never a reason to redeliver
                log.warning("WhatsApp statuses not looked up: %s", type(exc).__name__)
        return JSONResponse(
            {"ok": True, "received": len(note.messages), "statuses": len(note.statuses)}
        )

    return [
        Route(PATH, verify, methods=["GET"], name="whatsapp_verify"),
        Route(PATH, receive, methods=["POST"], name="whatsapp_webhook"),
    ]
