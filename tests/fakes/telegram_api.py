"""A fake Telegram Bot API server: real HTTP on 127.0.0.1, for the real PTB ``Bot``.

Point PTB at it with ``base_url=fake.base_url`` (``http://127.0.0.1:<port>/bot``). It
records every call (method and decoded parameters), answers the methods Nudgebot uses in
the documented shapes (https://core.telegram.org/bots/api), checks what real Telegram
checks where a bug of ours would otherwise pass unnoticed (HTML entities, 4096-character
texts, 64-byte callback data, "message is not modified"), serves queued updates to
``getUpdates`` (409 while a webhook is set, as Telegram does), and can fail the next calls
with 429 ``retry_after`` or any other error.

    with FakeTelegramAPI() as fake:
        bot = Bot(fake.token, base_url=fake.base_url)
        ...
        fake.calls_to("sendMessage")[0].params["text"]

It runs in a thread of its own, so it answers whatever the test's event loop is doing.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

BOT_ID = 7000000001
BOT_USERNAME = "nudgebot_test_bot"
TOKEN = f"{BOT_ID}:AAFakeTokenForTestsOnly_0123456789"
# Parameters PTB sends as plain strings; everything else arrives JSON-encoded.
_STRINGS = {
    "text", "parse_mode", "url", "secret_token", "callback_query_id", "caption",
    "language_code", "inline_message_id", "ip_address",
}  # fmt: skip
_ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "blockquote", "tg-spoiler", "span", "tg-emoji",
}  # fmt: skip


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when it arrived


@dataclass
class _Failure:
    remaining: int
    code: int
    description: str
    retry_after: int | None
    methods: frozenset[str] | None


class _EntityChecker(HTMLParser):
    """Rejects what Telegram's HTML parse mode rejects: unknown tags, unbalanced tags and a
    bare ``&`` or ``<`` that is not part of an entity or tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problem: str | None = None
        self.plain: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            self.problem = f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problem = f'Unmatched end tag "{tag}"'
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            self.problem = "Unexpected character in text"
        self.plain.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.problem = f'Unsupported entity "&{name};"'
        self.plain.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.plain.append(html.unescape(f"&#{name};"))


def check_html(text: str) -> tuple[str | None, str]:
    """(problem or None, the text Telegram would show)."""
    if re.search(r"&(?![A-Za-z]+;|#\d+;|#x[0-9A-Fa-f]+;)", text):
        return "Can't find end of the entity starting at some offset", text
    checker = _EntityChecker()
    checker.feed(text)
    checker.close()
    if checker.problem is None and checker.stack:
        checker.problem = f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    return checker.problem, "".join(checker.plain)


@dataclass
class FakeTelegramAPI:
    token: str = TOKEN
    bot_id: int = BOT_ID
    username: str = BOT_USERNAME
    calls: list[Call] = field(default_factory=list)
    webhook: dict[str, Any] | None = None
    updates: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    _failures: deque[_Failure] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _numbers: dict[int, itertools.count[int]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeTelegramAPI:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(_Handler):
            api = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # -- test controls ---------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        code: int = 429,
        retry_after: int | None = 1,
        description: str | None = None,
        methods: set[str] | None = None,
    ) -> None:
        """Answer the next ``count`` calls (of ``methods``, or any) with an error; the default
        is flood control: ``{"ok":false,"error_code":429,"parameters":{"retry_after":1}}``."""
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}" if code == 429 else "Bad Request"
            )
        with self._lock:
            self._failures.append(
                _Failure(
                    count,
                    code,
                    description,
                    retry_after if code == 429 else None,
                    frozenset(methods) if methods else None,
                )
            )

    def queue_update(self, update: dict[str, Any]) -> None:
        with self._lock:
            self.updates.append(update)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    async def wait_for(self, method: str, count: int = 1, within: float = 5.0) -> list[Call]:
        """The first ``count`` calls to ``method``, waiting up to ``within`` seconds."""
        deadline = time.monotonic() + within
        while True:
            found = self.calls_to(method)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"{count} x {method} not called within {within}s: {seen}")
            await asyncio.sleep(0.01)

    # -- the API ---------------------------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Nudgebot",
                "username": self.username}  # fmt: skip

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(method, params, time.monotonic()))
            failure = self._take_failure(method)
        if failure is not None:
            body: dict[str, Any] = {"ok": False, "error_code": failure.code,
                                    "description": failure.description}  # fmt: skip
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return failure.code, body
        answer = getattr(self, f"_api_{method}", None)
        if answer is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        try:
            return 200, {"ok": True, "result": answer(params)}
        except _ApiError as exc:
            return exc.code, {"ok": False, "error_code": exc.code, "description": exc.text}

    def _take_failure(self, method: str) -> _Failure | None:
        for failure in self._failures:
            if failure.methods is None or method in failure.methods:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _api_getMe(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {**self.bot_user(), "can_join_groups": True, "can_read_all_group_messages": True,
                "supports_inline_queries": False}  # fmt: skip

    def _text(self, params: dict[str, Any]) -> str:
        text = str(params.get("text", ""))
        shown = text
        if params.get("parse_mode") == "HTML":
            problem, shown = check_html(text)
            if problem:
                raise _ApiError(400, f"Bad Request: can't parse entities: {problem}")
        if not shown.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(shown) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if len(str(button.get("callback_data", "")).encode()) > 64:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return shown

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        value = int(chat_id)
        if value > 0:
            return {"id": value, "type": "private", "first_name": f"User{value}"}
        kind = "supergroup" if str(value).startswith("-100") else "group"
        return {"id": value, "type": kind, "title": f"Chat {value}"}

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        shown = self._text(params)
        chat = self._chat(params["chat_id"])
        with self._lock:
            numbers = self._numbers.setdefault(chat["id"], itertools.count(1001))
            number = next(numbers)
        message: dict[str, Any] = {
            "message_id": number, "date": int(time.time()), "chat": chat,
            "from": self.bot_user(), "text": shown,
        }  # fmt: skip
        if params.get("message_thread_id"):
            message["message_thread_id"] = params["message_thread_id"]
            message["is_topic_message"] = True
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        reply = params.get("reply_parameters") or {}
        replied = self.messages.get((chat["id"], int(reply.get("message_id", 0))))
        if replied is not None:
            message["reply_to_message"] = replied
        with self._lock:
            self.messages[(chat["id"], number)] = message
        return message

    def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        shown = self._text(params)
        key = (int(params["chat_id"]), int(params["message_id"]))
        with self._lock:
            message = self.messages.get(key)
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        if message["text"] == shown and message.get("reply_markup") == markup:
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        edited = {**message, "text": shown, "edit_date": int(time.time())}
        edited.pop("reply_markup", None)
        if markup:
            edited["reply_markup"] = markup
        with self._lock:
            self.messages[key] = edited
        return edited

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired")
        return True

    def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        if not str(params.get("url", "")).startswith("https://"):
            raise _ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        with self._lock:
            self.webhook = params
        return True

    def _api_deleteWebhook(self, _p: dict[str, Any]) -> bool:
        with self._lock:
            self.webhook = None
        return True

    def _api_getWebhookInfo(self, _p: dict[str, Any]) -> dict[str, Any]:
        hook = self.webhook or {}
        return {"url": hook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": 0}  # fmt: skip

    def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        for command in params.get("commands", []):
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        return True

    def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 0.2)
        while True:
            with self._lock:
                if offset:  # confirming an offset forgets everything before it
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                ready = list(self.updates)
            if ready or time.monotonic() >= deadline:
                return ready[: int(params.get("limit") or 100)]
            time.sleep(0.01)

    # Chats the bot is not in: getChat answers 400 "chat not found", as Telegram does.
    unknown_chats: set[int] = field(default_factory=set)

    def _api_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        value = int(params["chat_id"])
        if value in self.unknown_chats:
            raise _ApiError(400, "Bad Request: chat not found")
        return {**self._chat(value), "accent_color_id": 0, "max_reaction_count": 11}


class _ApiError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def _decode(params: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in params.items():
        value = values[-1]
        if key in _STRINGS:
            out[key] = value
            continue
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


class _Handler(BaseHTTPRequestHandler):
    api: FakeTelegramAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", self.path)
        if match is None or match.group(1) != self.api.token:
            self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        kind = self.headers.get("Content-Type", "")
        if "json" in kind:
            params = json.loads(raw or b"{}")
        else:
            params = _decode(parse_qs(raw.decode(), keep_blank_values=True))
        self._reply(*self.api.handle(match.group(2), params))

    do_GET = do_POST

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up waiting (a test stopping its bot mid-request): the call is
            # recorded already, and a traceback on stderr would only look like a failure.
            pass
