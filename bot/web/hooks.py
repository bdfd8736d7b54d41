"""``POST /hooks/{source_id}``: the generic signed webhook.

Receive fast: find the source, read at most 1 MiB, check the HMAC, validate every message,
store them in one transaction, answer. Every check runs before the write, so a rejected
request stores nothing — and a batch is all-or-nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.webhook.schema import PersonResolver, SchemaError, parse_message
from bot.domain.events import InboundMessage
from bot.domain.ports import DeadLetter
from bot.httpbody import MAX_BODY, BodyError, read_limited
from bot.services.dead_letters import keep_dead_letter
from bot.web.errors import ApiError, echo
from bot.web.state import web_state

MAX_BATCH = 1000
SIGNATURE_HEADER = "X-Nudgebot-Signature"
# Beyond these the business-hours clock and datetime arithmetic overflow; no real message
# is older than the Unix epoch or dated a millennium ahead.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    try:
        return await read_limited(request, limit)
    except BodyError as exc:
        raise ApiError(exc.status, exc.message) from None


def signature_problem(secret: str | None, body: bytes, header: str | None) -> str | None:
    """None when ``header`` is ``sha256=<hex HMAC-SHA256 of body>``, else what is wrong."""
    if not secret:
        return "this source has no secret configured, so no request can be verified"
    if header is None or not header.strip():
        return f"missing {SIGNATURE_HEADER} header (sha256=<hex HMAC-SHA256 of the body>)"
    # Starlette decodes headers as latin-1, so this recovers the bytes the client sent;
    # comparing bytes keeps compare_digest away from its ASCII-only str rule.
    raw = header.strip().encode("latin-1")
    scheme, _, digest = raw.partition(b"=")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    if scheme.strip().lower() != b"sha256" or not hmac.compare_digest(
        expected, digest.strip().lower()
    ):
        return (
            f"bad {SIGNATURE_HEADER}: not sha256=<hex HMAC-SHA256 of this body with the "
            "source's secret>"
        )
    return None


def _encodable(message: InboundMessage) -> None:
    """JSON may carry lone surrogates (``"\\ud800"``) that no database can store; catch them
    here so they are the client's 400, not a driver error."""
    fields = {
        "thread": message.thread, "id": message.message_id, "author.id": message.author.id,
        "author.name": message.author.name, "text": message.text, "url": message.url,
        "channel": message.channel,
    }  # fmt: skip
    for name, value in fields.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise SchemaError(name, "is not valid Unicode (lone surrogate)") from None
    if not EARLIEST <= message.at < LATEST:
        raise SchemaError("at", "must lie between 1970 and 3000")


def _one(obj: Any, source: str, resolve: PersonResolver) -> InboundMessage:
    try:
        message = parse_message(obj, source=source, platform="webhook", resolve=resolve)
    except OverflowError:
        # fromisoformat accepts year 1 and 9999, but shifting them to UTC can overflow
        raise SchemaError("at", "is out of range") from None
    _encodable(message)
    return message


def parse_body(body: bytes, source: str, resolve: PersonResolver) -> list[InboundMessage]:
    if not body.strip():
        raise ApiError(400, "empty body: send one JSON message object, or an array of them")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # UnicodeDecodeError is a ValueError: non-UTF-8 bodies land here too
        raise ApiError(400, f"body is not valid JSON ({type(exc).__name__})") from None
    if isinstance(data, dict):
        try:
            return [_one(data, source, resolve)]
        except SchemaError as exc:
            raise ApiError(400, str(exc)) from None
    if not isinstance(data, list):
        raise ApiError(
            400, f"expected a JSON message object or an array of them, got {type(data).__name__}"
        )
    if not data:
        raise ApiError(400, "empty array: a batch needs at least one message")
    if len(data) > MAX_BATCH:
        raise ApiError(400, f"a batch holds at most {MAX_BATCH} messages, got {len(data)}")
    messages = []
    for index, item in enumerate(data):
        try:
            messages.append(_one(item, source, resolve))
        except SchemaError as exc:
            sep = "." if exc.field else ": "
            raise ApiError(400, f"[{index}]{sep}{exc}") from None
    return messages


async def receive_hook(request: Request) -> Response:
    web = web_state(request)
    source_id = str(request.path_params["source_id"])
    source = web.runtime.config.sources.get(source_id)
    # Non-webhook sources answer like unknown ones: the route does not reveal the config.
    if source is None or str(source.platform) != "webhook":
        raise ApiError(404, f"unknown source {echo(source_id)}")
    body = await read_body(request)
    problem = signature_problem(source.secret, body, request.headers.get(SIGNATURE_HEADER))
    if problem is not None:
        raise ApiError(401, problem)
    try:
        messages = parse_body(body, source_id, web.runtime.resolve_person)
    except ApiError as exc:
        if body.strip():  # signed by the source: keep what it sent, then tell it why not
            letter = DeadLetter("webhook", source_id, exc.message, body, web.runtime.now())
            await keep_dead_letter(web.runtime.db, letter)
        raise
    await web.runtime.inbox.ingest(messages)
    web.metrics.messages_ingested(source_id, len(messages))
    return JSONResponse({"ok": True, "received": len(messages)})
