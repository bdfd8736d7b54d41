"""Helpers for the web tests: signed requests, row counts, the test config."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette

from bot.app import Runtime
from storage.models import Conversation, Message

AppFactory = Callable[..., Starlette]
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TOKEN = "test-token-0123456789"
SECRETS = {"website": "s3cret", "shop": "other-secret"}

CONFIG = """\
timezone: UTC
team:
  alice:
    name: Alice
    slack: U0ALICE01
    owner: true
  bob:
    name: Bob
    telegram: 222222222
policies:
  standard:
    reply_within: 15m
sources:
  website:
    platform: webhook
    secret: s3cret
    owner: bob
    policy: standard
  shop:
    platform: webhook
    secret: other-secret
    owner: alice
  acme:
    platform: slack
    channels: [C0CUST001]
    owner: alice
"""


def message(n: int = 1, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "thread": f"ticket-{n}",
        "id": f"msg-{n}",
        "at": "2026-11-28T10:00:00Z",
        "author": {"id": "cust-9", "name": "Dana"},
        "team": False,
        "text": "Where is my order?",
        "url": f"https://example.com/t/{n}",
    }
    body.update(changes)
    return body


def sign(body: bytes, secret: str = SECRETS["website"]) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def post_hook(
    client: httpx.AsyncClient,
    payload: Any,
    source: str = "website",
    secret: str | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST ``payload`` (bytes as they are, anything else as JSON), signed unless told not."""
    body = payload if isinstance(payload, bytes) else encode(payload)
    headers = {"Content-Type": "application/json"}
    if signature is None:
        signature = sign(body, secret or SECRETS.get(source, "x"))
    if signature:
        headers["X-Nudgebot-Signature"] = signature
    return await client.post(f"/hooks/{source}", content=body, headers=headers)


async def stored(runtime: Runtime) -> tuple[int, int]:
    """(messages, conversations) rows in the database."""
    async with runtime.db.read() as session:
        messages = await session.scalar(select(func.count()).select_from(Message))
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
    return int(messages or 0), int(conversations or 0)


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
