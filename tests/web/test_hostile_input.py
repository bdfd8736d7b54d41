"""Every public route of the real ASGI app — the built-in ones, ``/slack/events``,
``/telegram/webhook`` and ``/hooks/{source_id}`` as ``run`` wires them — against a corpus of
bad bodies, content types and headers: never a 5xx, never an ERROR line or a traceback.

The routes are walked from the app's own route table, so a route added later is attacked too
(the test fails until it knows how to fill the new route's path parameters). Requests are
sent both with valid credentials (so the body gets past the signature checks and into the
parsers, where deep nesting used to be a 500) and without.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from adapters.slack.service import SlackService, SlackSettings
from bot.app import Runtime
from bot.config import load_config
from bot.web.app import create_app
from bot.web.metrics import Metrics
from bot.wiring.core import CoreService
from bot.wiring.slack import component
from bot.wiring.telegram import TelegramSettings, assemble, build_application
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.telegram_api import FakeTelegramAPI

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TG_SECRET = "hostile-test-secret_0123456789"
HOOK_SECRET = "s3cret"
API_TOKEN = "hostile-api-token-0123456789"
CONFIG = f"""\
timezone: UTC
team:
  alice: {{name: Alice, slack: U0ALICE01, telegram: 111111111, owner: true}}
rotations:
  support: {{members: [alice], shift: 1w, handoff: "Mon 09:00", start: 2026-11-02}}
sources:
  website: {{platform: webhook, secret: {HOOK_SECRET}, owner: alice}}
  acme: {{platform: slack, channels: [C0CUST001], owner: alice}}
  community: {{platform: telegram, chats: [-1001234567890], owner: alice}}
"""

DEEP = 5000
BODIES: dict[str, bytes] = {
    "empty": b"",
    "deep-object": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "deep-array": b"[" * DEEP + b"]" * DEEP,
    "deep-update": b'{"update_id": 1, "message": ' + b'{"a":' * DEEP + b"1" + b"}" * (DEEP + 1),
    "deep-form-payload": b"payload=" + b"%5B" * DEEP + b"%5D" * DEEP,
    "deep-event": b'{"type": "event_callback", "event": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    "invalid-utf8": b'{"text": "\xff\xfe\xc3\x28"}',
    "nul": b'{"text": "a\x00b"}',
    "lone-surrogate": b'{"update_id": 5, "message": {"text": "\\ud800"}}',
    "huge": b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}',
    "null": b"null",
    "number": b"1e999999",
    "string": b'"hello"',
    "list": b"[1, 2, 3]",
    "wrong-types": json.dumps(
        {"update_id": "1", "type": 7, "event": [], "thread": {}, "id": None, "at": True}
    ).encode(),
    "nan": b'{"at": NaN, "update_id": Infinity}',
    "binary": bytes(range(256)) * 4,
    "form-garbage": b"payload=%7Bnot-json&&&=%%%",
}
CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain; charset=utf-16",
    "multipart/form-data; boundary=xyz",
    None,
]
BAD_SLACK_HEADERS: list[tuple[str | None, str | None]] = [
    ("abc", None), ("1e3", None), ("9" * 400, None), ("", None), (" ", None), ("-5", None),
    ("1.5", None), ("0x10", None), ("+123", None), (None, "abc"), (None, ""), (None, "v0="),
    (None, "v0=" + "0" * 400), (None, "v1=" + "0" * 64), (None, "v0=" + "g" * 64),
    (None, None),
]  # fmt: skip
PATH_VALUES = {
    "source_id": ["website", "acme", "nope", "%00", "x" * 300, "%ff%fe"],
    "rotation_id": ["support", "nope", "x" * 300, "%00"],
    # for routes other branches add (the conversation page): numbers that are not there
    "id": ["1", "0", "-1", "abc", "9" * 40, "%00"],
    "conversation_id": ["1", "0", "-1", "abc", "9" * 40, "%00"],
}
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


@dataclass
class Walk:
    app: Starlette
    client: httpx.AsyncClient


class LogTrap(logging.Handler):
    """Every ERROR line, and any record that carries a traceback, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.bad.append(f"{record.levelname} {record.name}: {record.getMessage()[:200]}")


@pytest.fixture
def trap() -> Iterator[LogTrap]:
    handler = LogTrap()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest.fixture
async def walk(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Walk]:
    monkeypatch.setenv("NUDGEBOT_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    path = tmp_path / "nudgebot.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    runtime = Runtime.from_config(load_config(str(path)), db_url)
    core = CoreService(runtime)
    slack_api = await FakeSlack().start()
    with FakeTelegramAPI() as tg_api:
        slack_settings = SlackSettings(
            bot_token=BOT_TOKEN, signing_secret=SLACK_SECRET, api_url=slack_api.api_url
        )
        slack = component(SlackService(slack_settings, core, runtime.config, runtime.now))
        tg_settings = TelegramSettings(tg_api.token, TG_SECRET, tg_api.base_url, "webhook",
                                       "https://nudgebot.example.com")  # fmt: skip
        telegram = assemble(runtime, core, tg_settings, application=build_application(tg_settings))
        parts = [slack, telegram.component]
        for part in parts:
            assert part.start is not None
            await part.start()
        app = create_app(runtime, metrics=Metrics(), routes=[r for p in parts for r in p.routes])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Walk(app, client)
        for part in reversed(parts):
            assert part.stop is not None
            await part.stop()
    await slack_api.stop()
    await runtime.close()


def slack_headers(body: bytes, stamp: str | None = None, sig: str | None = None) -> dict[str, str]:
    now = str(int(time.time()))
    base = b"v0:" + now.encode() + b":" + body
    good = "v0=" + hmac.new(SLACK_SECRET.encode(), base, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": good}
    if stamp is not None:
        headers["X-Slack-Request-Timestamp"] = stamp
    if sig is not None:
        headers["X-Slack-Signature"] = sig
    return headers


def credentials(template: str, path: str, body: bytes) -> dict[str, str]:
    """Valid credentials for the route, so hostile bodies reach the parsers."""
    if template == "/slack/events":
        return slack_headers(body)
    if template == "/telegram/webhook":
        return {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    if template == "/hooks/{source_id}":
        digest = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Nudgebot-Signature": f"sha256={digest}"}
    return {"Authorization": f"Bearer {API_TOKEN}"}


def concrete_paths(route: Route) -> list[str]:
    paths = [route.path]
    for name in route.param_convertors:
        assert name in PATH_VALUES, f"teach the walker values for {{{name}}} in {route.path}"
        paths = [p.replace(f"{{{name}}}", v) for p in paths for v in PATH_VALUES[name]]
    return paths


def routes(app: Starlette) -> list[Route]:
    found = [r for r in app.routes if isinstance(r, Route)]
    assert len(found) == len(app.routes), "a Mount or other route kind: teach the walker"
    return found


async def send(
    walk: Walk, method: str, path: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    response = await walk.client.request(method, path, content=body, headers=headers)
    assert response.status_code < 500, (method, path, body[:60], headers, response.text[:200])
    assert "Traceback" not in response.text
    return response


async def test_every_route_survives_every_bad_body(walk: Walk, trap: LogTrap) -> None:
    walked: set[str] = set()
    statuses: dict[int, int] = {}
    # One path may be served by several routes, one per method (GET /conversations/{id}
    # shows, POST acts): a method is refused (405) only when no route of that path takes it.
    by_path: dict[str, set[str]] = {}
    for route in routes(walk.app):
        by_path.setdefault(route.path, set()).update(route.methods or {"GET"})
    for route in routes(walk.app):
        walked.add(route.path)
        for path in concrete_paths(route):
            allowed = sorted(route.methods or {"GET"})
            refused = [m for m in METHODS if m not in by_path[route.path]]
            for method in allowed:
                for body in BODIES.values():
                    # Reading routes ignore bodies; one content type is enough to show it.
                    kinds = CONTENT_TYPES if method != "GET" else CONTENT_TYPES[:1]
                    for kind in kinds:
                        headers = credentials(route.path, path, body)
                        if kind is not None:
                            headers["Content-Type"] = kind
                        response = await send(walk, method, path, body, headers)
                        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    # the same bodies without credentials, and a method the route refuses
                    await send(walk, method, path, body, {"Content-Type": "application/json"})
            for method in refused:
                assert (await send(walk, method, path, b"{}", {})).status_code == 405
    assert {"/slack/events", "/telegram/webhook", "/hooks/{source_id}"} <= walked
    assert trap.bad == []
    assert statuses.get(400, 0) > 0 and statuses.get(413, 0) > 0, statuses


async def test_deep_json_is_400_on_every_body_route(walk: Walk) -> None:
    deep = BODIES["deep-object"]
    for path in ("/slack/events", "/telegram/webhook", "/hooks/website"):
        headers = {**credentials(path if path != "/hooks/website" else "/hooks/{source_id}",
                                 path, deep), "Content-Type": "application/json"}  # fmt: skip
        response = await send(walk, "POST", path, deep, headers)
        assert response.status_code == 400, (path, response.text)
        assert "deep" in response.json()["error"] or "JSON" in response.json()["error"]


async def test_malformed_slack_timestamp_or_signature_is_401(walk: Walk, trap: LogTrap) -> None:
    body = json.dumps({"type": "event_callback", "event": {"type": "message"}}).encode()
    for stamp, sig in BAD_SLACK_HEADERS:
        headers = {"Content-Type": "application/json", **slack_headers(body, stamp, sig)}
        if stamp is None and sig is None:
            headers = {"Content-Type": "application/json"}
        response = await send(walk, "POST", "/slack/events", body, headers)
        assert response.status_code == 401, (stamp and stamp[:20], sig and sig[:20], response.text)
        assert response.json()["error"].startswith("invalid request")
    # Header bytes that are not even ASCII (httpx sends str headers as latin-1/UTF-8 bytes).
    for raw in (b"\xff\xfe", "١٢٣".encode(), "１２３".encode(), b"12\x0034"):
        headers_raw = [(b"content-type", b"application/json"),
                       (b"x-slack-request-timestamp", raw),
                       (b"x-slack-signature", b"v0=" + b"0" * 64)]  # fmt: skip
        response = await walk.client.post("/slack/events", content=body, headers=headers_raw)
        assert response.status_code == 401, raw
    assert trap.bad == []


async def test_hostile_headers_and_queries_on_read_routes(walk: Walk, trap: LogTrap) -> None:
    headers_list: list[dict[str, str]] = [
        {"Authorization": "Bearer"}, {"Authorization": "Bearer " + "x" * 10_000},
        {"Authorization": "Basic Zm9vOmJhcg=="}, {"Authorization": f"Bearer {API_TOKEN}x"},
        {"Cookie": "nudgebot_session=" + "A" * 5000}, {"Cookie": "nudgebot_session=%ff%00"},
        {"Content-Length": "abc"}, {"Accept": "\x7f" * 20},
    ]  # fmt: skip
    queries = ["limit=abc", "limit=-1", "limit=99999999999999999999", "cursor=%ff%fe", "since=1e3",
               "since=" + "9" * 400, "at=abc", "person=%00", "source=" + "x" * 5000,
               "overdue=maybe", "sort=;drop"]  # fmt: skip
    for route in routes(walk.app):
        if "GET" not in (route.methods or ()):
            continue
        for path in concrete_paths(route):
            for headers in headers_list:
                # httpx itself may refuse to send one: then nothing reached the app
                with contextlib.suppress(httpx.LocalProtocolError):
                    await send(walk, "GET", path, b"", headers)
            for query in queries:
                auth = {"Authorization": f"Bearer {API_TOKEN}"}
                await send(walk, "GET", f"{path}?{query}", b"", auth)
    assert trap.bad == []


async def test_signed_bodies_that_cannot_be_read_are_kept(walk: Walk, db_url: str) -> None:
    from storage import dead_letters_repo
    from storage.db import connect

    deep = BODIES["deep-object"]
    cases = [
        ("/slack/events", "/slack/events", deep, "slack", ""),
        ("/slack/events", "/slack/events", b'{"type": "block_actions", "actions": []}', "slack",
         ""),
        ("/hooks/website", "/hooks/{source_id}", b'{"thread": 1}', "webhook", "website"),
        ("/telegram/webhook", "/telegram/webhook", b"[1, 2]", "telegram", ""),
    ]  # fmt: skip
    for path, template, body, _platform, _source in cases:
        headers = {**credentials(template, path, body), "Content-Type": "application/json"}
        response = await send(walk, "POST", path, body, headers)
        assert response.status_code == 400, (path, response.text)
    # Unsigned, the same bodies are refused before anything is read or kept.
    for path, _template, body, _platform, _source in cases:
        await send(walk, "POST", path, body + b" ", {"Content-Type": "application/json"})
    db = connect(db_url)
    try:
        letters = await dead_letters_repo.listing(db)
    finally:
        await db.dispose()
    kept = sorted((letter.platform, letter.source, letter.payload) for letter in letters)
    assert kept == sorted((p, s, b) for _path, _t, b, p, s in cases)
