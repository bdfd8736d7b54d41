"""A fake WhatsApp Cloud API (Graph API) server: real HTTP on 127.0.0.1.

Point the adapter at it with ``WHATSAPP_API_URL=fake.base_url``
(``http://127.0.0.1:<port>/v21.0``). It records every ``POST /{phone_number_id}/messages``,
checks what Meta checks where a bug of ours would otherwise pass (bearer token, JSON body,
``messaging_product``, a text body of at most 4096 characters, a known phone number id),
answers in the documented shapes, and enforces the customer service window the way Meta
does: a free-form message to someone who has not written within 24 hours fails with
131047 "Re-engagement message". Tests can also make the next sends fail (130429 rate limit,
anything else).

    with FakeWhatsAppAPI() as fake:
        fake.customer_wrote("16505551234", at=time.time())
        ...
        fake.sends[0].body["text"]["body"]

Error bodies follow Meta's documented error shape:
``{"error": {"message", "type": "OAuthException", "code", "error_data": {"messaging_product",
"details"}, "fbtrace_id"}}``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "EAAGfakeWhatsAppTokenForTestsOnly"
PHONE_NUMBER_ID = "106540352242922"
VERSION = "v21.0"
WINDOW = 24 * 3600


@dataclass(frozen=True)
class Send:
    phone_number_id: str
    body: dict[str, Any]
    authorization: str
    at: float


@dataclass
class _Failure:
    remaining: int
    status: int
    code: int
    message: str
    details: str


@dataclass
class FakeWhatsAppAPI:
    token: str = TOKEN
    numbers: tuple[str, ...] = (PHONE_NUMBER_ID,)
    # Unix time as Meta sees it: tests move it to step outside the window.
    clock: Callable[[], float] = field(default=time.time)
    sends: list[Send] = field(default_factory=list)
    rejected: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    last_inbound: dict[str, float] = field(default_factory=dict)  # wa_id -> when they wrote
    _failures: list[_Failure] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __enter__(self) -> FakeWhatsAppAPI:
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
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{VERSION}"

    def customer_wrote(self, wa_id: str, at: float) -> None:
        """What Meta knows from inbound messages: opens ``wa_id``'s 24-hour window."""
        with self._lock:
            self.last_inbound[wa_id] = max(at, self.last_inbound.get(wa_id, 0.0))

    def fail_next(
        self, code: int = 130429, *, times: int = 1, status: int = 400,
        message: str = "(#130429) Rate limit hit",
        details: str = "Cloud API message throughput has been reached.",
    ) -> None:  # fmt: skip
        with self._lock:
            self._failures.append(_Failure(times, status, code, message, details))

    # --- the API ------------------------------------------------------------------------

    def handle(self, path: str, auth: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != VERSION or parts[2] != "messages":
            return self._error(400, 100, "Unsupported post request.", "unknown path " + path)
        number = parts[1]
        if auth != f"Bearer {self.token}":
            return self._error(401, 190, "Invalid OAuth access token.", "bad bearer token")
        if number not in self.numbers:
            return self._error(400, 100, "Unsupported post request.",
                               f"Object with ID '{number}' does not exist")  # fmt: skip
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, 100, "Invalid parameter", "body is not JSON")
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return self._error(400, 100, "Invalid parameter",
                               "messaging_product must be whatsapp")  # fmt: skip
        to = body.get("to")
        text = (body.get("text") or {}).get("body") if body.get("type") == "text" else None
        if not isinstance(to, str) or not isinstance(text, str) or not text:
            return self._error(400, 100, "Invalid parameter", "to and text.body are required")
        if len(text) > 4096:
            return self._error(400, 100, "Invalid parameter", "text.body is too long")
        with self._lock:
            failure = self._failures[0] if self._failures else None
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.pop(0)
            wrote = self.last_inbound.get(to)
        if failure is not None:
            return self._error(failure.status, failure.code, failure.message, failure.details,
                               body)  # fmt: skip
        if wrote is None or self.clock() - wrote > WINDOW:
            return self._error(
                400, 131047, "(#131047) Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the "
                "customer last replied to this number.", body,
            )  # fmt: skip
        wamid = f"wamid.FAKE{next(self._ids):08d}"
        with self._lock:
            self.sends.append(Send(number, body, auth, time.monotonic()))
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }

    def _error(
        self, status: int, code: int, message: str, details: str,
        body: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:  # fmt: skip
        with self._lock:
            self.rejected.append((status, code, body or {}))
        return status, {
            "error": {
                "message": message, "type": "OAuthException", "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": details},
                "fbtrace_id": "AFakeTraceId",
            }
        }  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    api: FakeWhatsAppAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        status, payload = self.api.handle(self.path, self.headers.get("Authorization", ""), raw)
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up first: nothing to answer
