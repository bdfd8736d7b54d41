"""A small real HTTP server on 127.0.0.1 for the polled-source fakes.

Routes are ``(method, path regex) -> handler(request, match) -> Answer``. Every request is
recorded. Misbehaviour on demand, in front of the routes:

    fake.fail(times=3, status=503)                         # 5xx
    fake.fail(status=429, headers={"Retry-After": "7"})    # rate limited
    fake.fail(body=b"<html>…", content_type="text/html")   # HTML where JSON was expected
    fake.fail(delay=1.0)                                   # slower than the client's timeout
    fake.down = True                                       # every request: 503, until reset
    fake.hold(path)                                        # park matching requests in flight

It runs in threads of its own, so it answers whatever the test's event loop is doing.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # bytes as they are; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"
    delay: float = 0.0

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass
class _Fault:
    answer: Answer
    times: int
    path: re.Pattern[str]


Handler = Callable[[Request, re.Match[str]], Answer]


class FakeServer:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        self.down = False
        self.lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.extra_headers: Callable[[Request], dict[str, str]] = lambda _r: {}
        self.held = threading.Event()  # a request matching the hold has arrived
        self._hold: re.Pattern[str] | None = None
        self._release = threading.Event()

    # -- set-up ----------------------------------------------------------------------------

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self.routes.append((method, re.compile(f"^{pattern}$"), handler))
            return handler

        return add

    def fail(
        self,
        *,
        times: int = 1,
        status: int = 503,
        body: Any = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json; charset=utf-8",
        delay: float = 0.0,
        path: str = ".*",
    ) -> None:
        with self.lock:
            self._faults.append(
                _Fault(
                    Answer(status, body, headers or {}, content_type, delay),
                    times,
                    re.compile(path),
                )
            )

    def hold(self, path: str) -> None:
        """Requests whose path matches wait (in flight, unanswered) until ``release()``: a
        crash test kills the client while one is parked, i.e. mid-poll."""
        with self.lock:
            self._release.clear()
            self.held.clear()
            self._hold = re.compile(path)

    def release(self) -> None:
        with self.lock:
            self._hold = None
            self._release.set()

    def _park(self, path: str) -> None:
        with self.lock:
            parked = self._hold is not None and self._hold.search(path) is not None
        if parked:
            self.held.set()
            self._release.wait(timeout=30)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def calls(self, method: str, path_pattern: str) -> list[Request]:
        pattern = re.compile(f"^{path_pattern}$")
        with self.lock:
            return [r for r in self.requests if r.method == method and pattern.match(r.path)]

    # -- serving ---------------------------------------------------------------------------

    def answer(self, request: Request) -> Answer:
        with self.lock:
            self.requests.append(request)
            if self.down:
                return Answer(
                    503,
                    b"<html><body>503 Service Unavailable</body></html>",
                    content_type="text/html",
                )
            for fault in self._faults:
                if fault.times > 0 and fault.path.search(request.path):
                    fault.times -= 1
                    return fault.answer
            for method, pattern, handler in self.routes:
                found = pattern.match(request.path)
                if method == request.method and found:
                    answer = handler(request, found)
                    answer.headers = {**self.extra_headers(request), **answer.headers}
                    return answer
        return Answer(404, {"error": "Record not found"})

    def __enter__(self) -> FakeServer:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    split.path,
                    parse_qs(split.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                fake._park(request.path)
                answer = fake.answer(request)
                if answer.delay:
                    time.sleep(answer.delay)
                body = answer.encoded()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def page_links(
    base: str, path: str, params: dict[str, str], rels: dict[str, dict[str, str]]
) -> dict[str, str]:
    """A ``Link`` header as Mastodon and GitHub send it."""
    from urllib.parse import urlencode

    parts = [
        f'<{base}{path}?{urlencode({**params, **extra})}>; rel="{rel}"'
        for rel, extra in rels.items()
    ]
    return {"Link": ", ".join(parts)} if parts else {}
